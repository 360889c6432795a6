#include "model/decoder_layer.h"

#include "model/activation.h"
#include "model/fused_layer.h"
#include "model/kernels.h"
#include "model/linear.h"

namespace avla {

SwiGluImpl::SwiGluImpl(int64_t dim, int64_t hidden_) : hidden(hidden_) {
  gate_up_proj = register_module(
      "gate_up_proj", torch::nn::Linear(torch::nn::LinearOptions(dim, 2 * hidden).bias(false)));
  down_proj = register_module("down_proj",
                              torch::nn::Linear(torch::nn::LinearOptions(hidden, dim).bias(false)));
}

torch::Tensor SwiGluImpl::forward(const torch::Tensor& x) {
  // (..., dim) -> (..., 2 hidden) -> (..., hidden) -> (..., dim)
  return linear(silu_mul(linear(x, gate_up_proj), hidden), down_proj);
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
  // no-grad inference on the cpu: the whole layer in one parallel region (model/fused_layer)
  if (can_fuse_layer(*this, x, past, mask))
    return fused_layer_forward(*this, x, rope, past, mask, kv_out);
  // h = x + attn(norm(x)); out = h + mlp(norm(h)), the add and the second norm in one op
  const NormedSum h =
      add_rms_norm(*post_attention_layernorm, x,
                   self_attn(rms_norm_for_linear(*input_layernorm, x), rope, past, mask, kv_out));
  return h.sum + mlp(h.normed);
}

}  // namespace avla
