#include "flow/flow_matching.h"

#include "util/error.h"

namespace avla {

torch::Tensor sample_flow_time(int64_t batch, at::Generator& gen) {
  torch::Tensor u = torch::rand({batch}, gen);
  torch::Tensor b = torch::pow(u, 1.0 / 1.5);  // Beta(1.5, 1)
  return b * 0.999 + 0.001;
}

torch::Tensor sample_flow_mask(int64_t batch, int64_t chunk_len, double sfm_share,
                               at::Generator& gen) {
  AVLA_CHECK(sfm_share >= 0.0 && sfm_share <= 1.0, "flow", "sfm_share {} outside [0, 1]",
             sfm_share);
  if (sfm_share >= 1.0) return torch::ones({batch, chunk_len});
  torch::Tensor y = torch::rand({batch, 1}, gen);          // (B, 1)
  torch::Tensor u = torch::rand({batch, chunk_len}, gen);  // (B, L)
  torch::Tensor mask = (u < y).to(torch::kFloat32);        // Bernoulli(y)
  // rows with no masked token get one, chosen uniformly
  torch::Tensor pick = torch::randint(chunk_len, {batch}, gen);  // (B)
  torch::Tensor empty = mask.sum(1) == 0;                        // (B)
  torch::Tensor one_hot = torch::one_hot(pick, chunk_len).to(torch::kFloat32);
  mask = torch::where(empty.unsqueeze(1), one_hot, mask);
  if (sfm_share <= 0.0) return mask;
  // plain sfm rows
  torch::Tensor sfm_row = torch::rand({batch, 1}, gen) < sfm_share;  // (B, 1)
  return torch::where(sfm_row, torch::ones_like(mask), mask);
}

torch::Tensor make_noisy_actions(const torch::Tensor& actions, const torch::Tensor& noise,
                                 const torch::Tensor& tau, const torch::Tensor& mask) {
  AVLA_CHECK(actions.sizes() == noise.sizes(), "flow", "actions {} and noise {} differ in shape",
             c10::str(actions.sizes()), c10::str(noise.sizes()));
  // (B, 1, 1) * (B, L, A) * (B, L, 1)
  return actions - tau.view({-1, 1, 1}) * (actions - noise) * mask.unsqueeze(-1);
}

torch::Tensor perturb_context(const torch::Tensor& actions, const torch::Tensor& mask, double sigma,
                              const torch::Tensor& eps) {
  AVLA_CHECK(sigma >= 0, "flow", "context noise {} is negative", sigma);
  AVLA_CHECK(actions.sizes() == eps.sizes(), "flow",
             "actions {} and context noise {} differ in shape", c10::str(actions.sizes()),
             c10::str(eps.sizes()));
  if (sigma == 0) return actions;
  // (B, L, A) + sigma * (B, L, A) * (B, L, 1)
  return actions + sigma * eps * (1 - mask).unsqueeze(-1);
}

torch::Tensor token_time(const torch::Tensor& tau, const torch::Tensor& mask) {
  if (tau.dim() == 0) return tau * mask;
  return tau.view({-1, 1}) * mask;
}

FlowLossTerms loss_flow_terms(const torch::Tensor& velocity, const torch::Tensor& target,
                              const torch::Tensor& mask, const torch::Tensor& valid) {
  AVLA_CHECK(velocity.sizes() == target.sizes(), "flow",
             "velocity {} and target {} differ in shape", c10::str(velocity.sizes()),
             c10::str(target.sizes()));
  torch::Tensor weight = (mask * valid).unsqueeze(-1);  // (B, L, 1)
  torch::Tensor sq = (velocity - target).pow(2) * weight;
  return {sq.sum(), weight.sum().detach() * velocity.size(-1)};
}

torch::Tensor loss_flow(const torch::Tensor& velocity, const torch::Tensor& target,
                        const torch::Tensor& mask, const torch::Tensor& valid) {
  const FlowLossTerms terms = loss_flow_terms(velocity, target, mask, valid);
  return terms.sum / terms.count.clamp_min(1.0);
}

}  // namespace avla
