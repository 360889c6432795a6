// asynchronous time embedding (paper sec. 3.1): for action token l at flow time tau with mask m_l,
// h_l = [S(tau * m_l), P(a_l)] (2d), x_l = mlp(h_l) = W_out silu(W_in h_l) (d).
// unmasked tokens carry time 0: they are clean context.
#pragma once

#include <torch/torch.h>

#include "model/config.h"

namespace avla {

// sinusoidal embedding of times t: (...) -> (..., dim) = [sin(2 pi t / p_i), cos(2 pi t / p_i)],
// periods p_i geometric from min_period to max_period over dim / 2 frequencies (pi0).
torch::Tensor sinusoidal_time_embedding(const torch::Tensor& t, int64_t dim, double min_period,
                                        double max_period);
// the angular frequencies 2 pi / p_i of that embedding, float64 (dim / 2)
torch::Tensor sinusoidal_frequencies(int64_t dim, double min_period, double max_period);
// the embedding from precomputed frequencies: (...) -> (..., 2 * freqs)
torch::Tensor sinusoidal_from_frequencies(const torch::Tensor& t, const torch::Tensor& freqs);

struct ActionEmbeddingImpl : torch::nn::Module {
  explicit ActionEmbeddingImpl(const ModelConfig& cfg);
  // noisy_actions: (B, L, action_dim), token_time tau * m: (B, L) -> (B, L, d_model)
  torch::Tensor forward(const torch::Tensor& noisy_actions, const torch::Tensor& token_time);

  ModelConfig cfg;
  torch::Tensor time_freqs;  // (d / 2) float64, fixed (not a weight); follows the input's device
  torch::nn::Linear action_in_proj{nullptr};  // P: action_dim -> d
  torch::nn::Linear time_mlp_in{nullptr};     // 2d -> d
  torch::nn::Linear time_mlp_out{nullptr};    // d -> d
};
TORCH_MODULE(ActionEmbedding);

}  // namespace avla
