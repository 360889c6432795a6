// one pre-norm transformer layer (qwen2): x + attn(norm(x)), then x + swiglu(norm(x)).
// the vision encoder uses the same layer without rotary positions.
#pragma once

#include <torch/torch.h>

#include "model/attention.h"
#include "model/rms_norm.h"

namespace avla {

// swiglu mlp with a fused gate/up projection: down(silu(gate(x)) * up(x)).
struct SwiGluImpl : torch::nn::Module {
  SwiGluImpl(int64_t dim, int64_t hidden);
  // x: (..., dim) -> (..., dim)
  torch::Tensor forward(const torch::Tensor& x);

  int64_t hidden;
  torch::nn::Linear gate_up_proj{nullptr};  // dim -> 2 * hidden (gate rows first)
  torch::nn::Linear down_proj{nullptr};     // hidden -> dim
};
TORCH_MODULE(SwiGlu);

struct DecoderLayerImpl : torch::nn::Module {
  DecoderLayerImpl(int64_t dim, int64_t n_head, int64_t n_kv_head, int64_t ff, bool qkv_bias,
                   double eps);
  // x: (B, T, dim) -> (B, T, dim); see AttentionImpl::forward for rope, past, mask, kv_out.
  torch::Tensor forward(const torch::Tensor& x, const RotaryTable& rope, const LayerKv* past,
                        const torch::Tensor& mask, LayerKv* kv_out = nullptr);

  RMSNorm input_layernorm{nullptr};
  Attention self_attn{nullptr};
  RMSNorm post_attention_layernorm{nullptr};
  SwiGlu mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

}  // namespace avla
