#include "model/action_embedding.h"

#include <cmath>

#include "model/backend.h"
#include "model/linear.h"

namespace avla {

torch::Tensor sinusoidal_frequencies(int64_t dim, double min_period, double max_period) {
  // periods in float64 as in pi0
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor fraction = torch::linspace(0.0, 1.0, dim / 2, opts);
  torch::Tensor period = min_period * torch::pow(max_period / min_period, fraction);
  return (2.0 * M_PI) / period;
}

torch::Tensor sinusoidal_from_frequencies(const torch::Tensor& t, const torch::Tensor& freqs) {
  torch::Tensor angle = t.to(torch::kFloat64).unsqueeze(-1) * freqs;  // (..., dim/2)
  return torch::cat({angle.sin(), angle.cos()}, -1).to(torch::kFloat32);
}

torch::Tensor sinusoidal_time_embedding(const torch::Tensor& t, int64_t dim, double min_period,
                                        double max_period) {
  return sinusoidal_from_frequencies(t, sinusoidal_frequencies(dim, min_period, max_period));
}

ActionEmbeddingImpl::ActionEmbeddingImpl(const ModelConfig& cfg_) : cfg(cfg_) {
  const int64_t d = cfg.d_model;
  time_freqs = sinusoidal_frequencies(d, cfg.time_min_period, cfg.time_max_period);
  action_in_proj = register_module("action_in_proj", torch::nn::Linear(cfg.action_dim, d));
  time_mlp_in = register_module("time_mlp_in", torch::nn::Linear(2 * d, d));
  time_mlp_out = register_module("time_mlp_out", torch::nn::Linear(d, d));
}

torch::Tensor ActionEmbeddingImpl::forward(const torch::Tensor& noisy_actions,
                                           const torch::Tensor& token_time) {
  // S(tau m): (B, L, d); P(a): (B, L, d); concat -> (B, L, 2d) -> mlp -> (B, L, d)
  follow_device(time_freqs, token_time.device());
  torch::Tensor time_emb = sinusoidal_from_frequencies(token_time, time_freqs);
  torch::Tensor action_emb = linear(noisy_actions, action_in_proj);
  torch::Tensor h = torch::cat({time_emb.to(action_emb.scalar_type()), action_emb}, -1);
  return linear(torch::silu(linear(h, time_mlp_in)), time_mlp_out);
}

}  // namespace avla
