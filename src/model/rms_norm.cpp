#include "model/rms_norm.h"

namespace avla {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // normalize in fp32 whatever the input precision (bf16 under autocast)
  torch::Tensor xf = x.to(torch::kFloat32);
  torch::Tensor inv = torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (xf * inv).to(x.scalar_type()) * weight.to(x.scalar_type());
}

}  // namespace avla
