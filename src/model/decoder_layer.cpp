#include "model/decoder_layer.h"

#include <ATen/Parallel.h>

#include <vector>

#include "model/backend.h"
#include "model/linear.h"
#include "model/simd.h"

namespace avla {

SwiGluImpl::SwiGluImpl(int64_t dim, int64_t hidden_) : hidden(hidden_) {
  gate_up_proj = register_module(
      "gate_up_proj", torch::nn::Linear(torch::nn::LinearOptions(dim, 2 * hidden).bias(false)));
  down_proj = register_module("down_proj",
                              torch::nn::Linear(torch::nn::LinearOptions(hidden, dim).bias(false)));
}

namespace {

// no-grad fp32 inference on the cpu: silu(gate) * up in one pass over the projection's rows,
// instead of two strided element-wise ops and a temporary. gate_up (..., 2 hidden) -> (..., hidden)
__attribute__((target("avx2,fma"))) torch::Tensor silu_mul_fused(const torch::Tensor& gate_up_in,
                                                                 int64_t hidden) {
  const torch::Tensor gate_up = gate_up_in.contiguous();
  const int64_t rows = gate_up.numel() / (2 * hidden);
  std::vector<int64_t> sizes = gate_up.sizes().vec();
  sizes.back() = hidden;
  torch::Tensor out = torch::empty(sizes, gate_up.options());
  const float* in = gate_up.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      silu_mul_f32(in + r * 2 * hidden, in + r * 2 * hidden + hidden, o + r * hidden, hidden);
    }
  });
  return out;
}

}  // namespace

torch::Tensor SwiGluImpl::forward(const torch::Tensor& x) {
  torch::Tensor gate_up = linear(x, gate_up_proj);  // (..., 2 hidden)
  if (!torch::GradMode::is_enabled() && gate_up.scalar_type() == torch::kFloat32 &&
      use_cpu_kernels(gate_up)) {
    return linear(silu_mul_fused(gate_up, hidden), down_proj);
  }
  torch::Tensor gate = gate_up.narrow(-1, 0, hidden);
  torch::Tensor up = gate_up.narrow(-1, hidden, hidden);
  return linear(torch::silu(gate) * up, down_proj);
}

DecoderLayerImpl::DecoderLayerImpl(int64_t dim, int64_t n_head, int64_t n_kv_head, int64_t ff,
                                   bool qkv_bias, double eps) {
  input_layernorm = register_module("input_layernorm", RMSNorm(dim, eps));
  self_attn = register_module("self_attn", Attention(dim, n_head, n_kv_head, qkv_bias));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(dim, eps));
  mlp = register_module("mlp", SwiGlu(dim, ff));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const RotaryTable& rope,
                                        const LayerKv* past, const torch::Tensor& mask,
                                        LayerKv* kv_out) {
  torch::Tensor h = x + self_attn(input_layernorm(x), rope, past, mask, kv_out);
  return h + mlp(post_attention_layernorm(h));
}

}  // namespace avla
