#include "flow/sampler.h"

#include "flow/flow_matching.h"
#include "util/error.h"

namespace avla {

torch::Tensor sample_sfm(VLAImpl& model, const KvCache& cache, const torch::Tensor& noise,
                         int n_steps) {
  torch::Tensor all = torch::ones({noise.size(0), noise.size(1)}, noise.options());
  return sample_afm(model, cache, noise, all, noise, n_steps);
}

torch::Tensor sample_afm(VLAImpl& model, const KvCache& cache, const torch::Tensor& sfm_actions,
                         const torch::Tensor& mask, const torch::Tensor& noise, int n_steps) {
  AVLA_CHECK(n_steps > 0, "flow", "n_steps is {}, expected > 0", n_steps);
  AVLA_CHECK(sfm_actions.sizes() == noise.sizes(), "flow",
             "sfm actions {} and noise {} differ in shape", c10::str(sfm_actions.sizes()),
             c10::str(noise.sizes()));
  AVLA_CHECK(mask.sizes() == noise.sizes().slice(0, 2), "flow", "mask has shape {}, expected {}",
             c10::str(mask.sizes()), c10::str(noise.sizes().slice(0, 2)));
  torch::NoGradGuard no_grad;
  torch::Tensor m = mask.to(torch::kFloat32);
  torch::Tensor keep = (m == 0).unsqueeze(-1);  // (B, L, 1) true for context tokens

  // eq. 2: asynchronous starting noise
  torch::Tensor x = torch::where(keep, sfm_actions, noise);
  const double delta = 1.0 / n_steps;
  for (int k = 0; k < n_steps; ++k) {
    const double tau = 1.0 - k * delta;
    torch::Tensor t = m * tau;  // (B, L): tau on masked tokens, 0 on context
    torch::Tensor v = model.velocity(cache, x, t);
    // eq. 1: euler step on masked tokens only; where() leaves context bits untouched
    x = torch::where(keep, x, x - delta * v);
  }
  return x;
}

}  // namespace avla
