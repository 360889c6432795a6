// grouped-query self-attention with rotary positions (qwen2), fused q/k/v projection, and the
// per-layer key/value cache of the prefix.
#pragma once

#include <torch/torch.h>

namespace avla {

// rotary tables for positions [0, max_positions): cos, sin of shape (max_positions, head_dim),
// "rotate half" layout (frequencies repeated twice), as in hf qwen2.
struct RotaryTable {
  torch::Tensor cos, sin;
  static RotaryTable make(int64_t max_positions, int64_t head_dim, double theta);
  // the rows for positions [start, start + n): (n, head_dim) each
  RotaryTable slice(int64_t start, int64_t n) const;
  // moves the table to device when it lives elsewhere (a model moved with .to(device) does not
  // carry this plain struct along; follow_device); a no-op where it already is
  void place_on(const torch::Device& device);
};

// x: (B, H, T, hd), cos/sin: (T, hd) -> (B, H, T, hd)
torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTable& rope);

// keys/values of one layer: (B, n_kv_head, S, head_dim) each; k_t, where a no-grad prefix pass
// on the cpu made it, the same keys transposed for the cached steps' score kernel:
// (B, n_kv_head, head_dim, S rounded up to 8), zero-padded (undefined elsewhere)
struct LayerKv {
  torch::Tensor k, v, k_t;
};

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t dim, int64_t n_head, int64_t n_kv_head, bool qkv_bias);

  // x: (B, T, dim); rope: rows for these T tokens (undefined tensors: no rotary);
  // past: cached keys/values (B, n_kv, P, hd) placed before this block's keys (undefined: none);
  // mask: additive (B, 1, T, P + T) or broadcastable, undefined for full attention.
  // returns (B, T, dim); when kv_out is given it receives this block's own k, v (after rotary).
  torch::Tensor forward(const torch::Tensor& x, const RotaryTable& rope, const LayerKv* past,
                        const torch::Tensor& mask, LayerKv* kv_out = nullptr);

  int64_t dim, n_head, n_kv_head, head_dim;
  torch::nn::Linear qkv_proj{nullptr};  // dim -> (n_head + 2 n_kv_head) * head_dim
  torch::nn::Linear o_proj{nullptr};    // n_head * head_dim -> dim
};
TORCH_MODULE(Attention);

}  // namespace avla
