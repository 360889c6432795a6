// flow-matching training math (paper alg. 2, eqs. 4-5), pi0 conventions: tau = 1 is noise,
// tau = 0 is data; x_tau = a - tau (a - n) on masked tokens; target u = n - a.
#pragma once

#include <torch/torch.h>

namespace avla {

// tau ~ Beta(1.5, 1) scaled to [0.001, 1): tau = 0.999 b + 0.001. shape (B).
// Beta(a, 1) is sampled exactly as U^(1/a).
torch::Tensor sample_flow_time(int64_t batch, at::Generator& gen);

// per sample y ~ U(0, 1); m_l ~ Bernoulli(y), at least one masked token per row (a row that drew
// none gets one uniformly chosen token): alg. 2 exactly when sfm_share is 0. each row is instead
// all ones (a plain sfm row) with probability sfm_share; sfm_share 1 is vanilla sfm training and
// draws nothing from gen. returns float (B, L).
torch::Tensor sample_flow_mask(int64_t batch, int64_t chunk_len, double sfm_share,
                               at::Generator& gen);

// eq. 5: actions (B, L, A), noise (B, L, A), tau (B), mask (B, L) -> x_tau (B, L, A)
torch::Tensor make_noisy_actions(const torch::Tensor& actions, const torch::Tensor& noise,
                                 const torch::Tensor& tau, const torch::Tensor& mask);

// context tokens as the model meets them at inference: there the unmasked tokens of AFM hold the
// model's own SFM output, not the data. adds sigma * eps (eps ~ N(0, I), drawn by the caller like
// the flow noise, from the global batch's stream) to the unmasked tokens of actions (B, L, A)
// under mask (B, L); masked tokens stay bit-identical. sigma 0 returns actions.
torch::Tensor perturb_context(const torch::Tensor& actions, const torch::Tensor& mask, double sigma,
                              const torch::Tensor& eps);

// per-token time fed to the time embedding: tau (B) or scalar, mask (B, L) -> tau * m (B, L)
torch::Tensor token_time(const torch::Tensor& tau, const torch::Tensor& mask);

// eq. 4 as its two sums: sum of (v - u)^2 over masked and valid action elements, and their count
// (a data-parallel step adds both over ranks before dividing). count is a float scalar.
struct FlowLossTerms {
  torch::Tensor sum;    // () with the graph of velocity
  torch::Tensor count;  // () no graph
};
FlowLossTerms loss_flow_terms(const torch::Tensor& velocity, const torch::Tensor& target,
                              const torch::Tensor& mask, const torch::Tensor& valid);

// eq. 4: mean of (v - u)^2 over masked and valid action elements.
// velocity, target (B, L, A); mask, valid (B, L) float. 0 when nothing is masked and valid.
torch::Tensor loss_flow(const torch::Tensor& velocity, const torch::Tensor& target,
                        const torch::Tensor& mask, const torch::Tensor& valid);

}  // namespace avla
