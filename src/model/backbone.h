// qwen2-shaped decoder backbone over [image tokens | text tokens | state token | action tokens].
// prefix tokens attend to the (non-padding) prefix only, bidirectionally; action tokens attend to
// the prefix and to every action token. so prefix keys/values never depend on the actions: they
// are computed once per observation into a KvCache and reused by every denoising step.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/attention.h"
#include "model/config.h"
#include "model/decoder_layer.h"

namespace avla {

// the vl kv-cache of one batch of observations.
struct KvCache {
  std::vector<LayerKv> layers;  // per layer: k, v (B, n_kv_head, P, head_dim), after rotary
  torch::Tensor key_bias;       // (B, 1, 1, P) additive: 0 for real tokens, -1e9 for padding
  torch::Tensor action_bias;    // (B, 1, 1, P + L): key_bias, then 0 for the L action keys
  torch::Tensor prefix_hidden;  // (B, P, d) last layer output after the final norm
  int64_t batch() const { return key_bias.size(0); }
  int64_t prefix_len() const { return key_bias.size(3); }
  // each row k times in a row (rows b*k .. b*k+k-1 are observation b): several flow draws per
  // encoded prefix in training; differentiable
  KvCache repeat_rows(int64_t k) const;
};

struct BackboneImpl : torch::nn::Module {
  explicit BackboneImpl(const ModelConfig& cfg);

  // prefix: (B, P, d) embeddings, key_valid: (B, P) bool -> cache for the action steps
  KvCache encode_prefix(const torch::Tensor& prefix, const torch::Tensor& key_valid);
  // actions: (B, L, d) embedded action tokens -> (B, L, d) final-norm hidden states
  torch::Tensor forward_actions(const KvCache& cache, const torch::Tensor& actions);
  // no cache: the whole sequence at once with the block mask -> action hidden (B, L, d);
  // prefix_hidden (optional) receives the prefix positions' final-norm outputs (B, P, d)
  torch::Tensor forward_full(const torch::Tensor& prefix, const torch::Tensor& key_valid,
                             const torch::Tensor& actions, torch::Tensor* prefix_hidden = nullptr);

  ModelConfig cfg;
  RotaryTable rope;                            // positions [0, P + L)
  torch::nn::Embedding embed_tokens{nullptr};  // (vocab, d)
  torch::nn::Linear state_proj{nullptr};       // state_dim -> d
  torch::nn::ModuleList layers{nullptr};       // DecoderLayer x n_layer
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Backbone);

// (B, P) bool -> (B, 1, 1, P) additive float bias
torch::Tensor key_padding_bias(const torch::Tensor& key_valid);

}  // namespace avla
