// one decoder layer of no-grad inference on the cpu in a single parallel region. at batch 1 a
// layer is eight small steps (norm, q/k/v, attention, o + residual, norm, gate/up, silu * up,
// down + residual) of a few microseconds each; run one by one, every step pays LibTorch's dispatch,
// an allocation and an OpenMP fork and join. here the threads enter once and meet at a barrier
// between the steps, each doing its share of rows, kv heads or weight panels through the same
// kernels as the per-op path (model/linear, model/attention, model/rms_norm, model/activation),
// so the result has the same bits. the plain-op path (cuda, --plain-ops) is untouched.
#pragma once

#include <torch/torch.h>

#include "model/decoder_layer.h"

namespace avla {

// whether fused_layer_forward takes this call: fusion on, no autograd or autocast, fp32 x
// (B, T, dim) on the cpu with our kernels on, at most kSmallLinearMaxRows rows, widths and
// head_dim multiples of 8, a cache in fp32, and a mask that is a (B or 1, 1, 1, P + T) key bias
bool can_fuse_layer(const DecoderLayerImpl& layer, const torch::Tensor& x, const LayerKv* past,
                    const torch::Tensor& mask);

// layer's forward as DecoderLayerImpl::forward computes it through our kernels, bit for bit:
// x (B, T, dim) -> (B, T, dim); rope, past, mask and kv_out as in AttentionImpl::forward
torch::Tensor fused_layer_forward(DecoderLayerImpl& layer, const torch::Tensor& x,
                                  const RotaryTable& rope, const LayerKv* past,
                                  const torch::Tensor& mask, LayerKv* kv_out);

// the fusion for the whole process (tests and the bench compare it with the per-op kernels); on
// by default
void set_layer_fusion(bool on);
bool layer_fusion_on();

}  // namespace avla
