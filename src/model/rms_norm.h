// root-mean-square layer norm (qwen2): x / sqrt(mean(x^2) + eps) * weight, computed in fp32.
// on the cpu (avx2/fma) one pass a row forward and backward, on fp32 or bf16 rows (what autocast
// hands it) with the fp32 weight; elsewhere the plain ops.
#pragma once

#include <torch/torch.h>

namespace avla {

struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps);
  // x: (..., dim) -> (..., dim)
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;  // (dim)
  double eps;
};
TORCH_MODULE(RMSNorm);

}  // namespace avla
