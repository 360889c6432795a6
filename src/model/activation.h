// swiglu's activation, silu(gate) * up, as one op with its own backward. on the cpu (avx2/fma) it
// runs in one pass over the fused gate/up projection, forward and backward, in fp32 and in bf16
// (what autocast training hands it): where LibTorch runs a strided silu, a mul, their two
// backwards and a zero-filled slice backward per half, each a slow element-wise bf16 loop in
// LibTorch 1.13. elsewhere (cuda, --plain-ops, other dtypes) the plain ops run.
#pragma once

#include <torch/torch.h>

namespace avla {

// gate_up: (..., 2 hidden), gate first -> (..., hidden), differentiable
torch::Tensor silu_mul(const torch::Tensor& gate_up, int64_t hidden);

}  // namespace avla
