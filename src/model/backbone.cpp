#include "model/backbone.h"

#include "util/error.h"

namespace avla {

namespace {
constexpr double kMaskedBias = -1e9;
}

torch::Tensor key_padding_bias(const torch::Tensor& key_valid) {
  torch::Tensor bias = torch::zeros(key_valid.sizes(), key_valid.options().dtype(torch::kFloat32))
                           .masked_fill(key_valid.logical_not(), kMaskedBias);
  return bias.view({key_valid.size(0), 1, 1, key_valid.size(1)});
}

BackboneImpl::BackboneImpl(const ModelConfig& cfg_) : cfg(cfg_) {
  AVLA_CHECK(cfg.vocab_size > 0, "backbone", "vocab_size is {}, expected > 0 (set from tokenizer)",
             cfg.vocab_size);
  rope = RotaryTable::make(cfg.prefix_len() + cfg.chunk_len, cfg.head_dim(), cfg.rope_theta);
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(cfg.vocab_size, cfg.d_model));
  {
    torch::NoGradGuard no_grad;
    embed_tokens->weight.normal_(0.0, 0.02);
  }
  state_proj = register_module("state_proj", torch::nn::Linear(cfg.state_dim, cfg.d_model));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < cfg.n_layer; ++i) {
    layers->push_back(DecoderLayer(cfg.d_model, cfg.n_head, cfg.n_kv_head, cfg.d_ff,
                                   /*qkv_bias=*/true, cfg.rms_eps));
  }
  norm = register_module("norm", RMSNorm(cfg.d_model, cfg.rms_eps));
}

KvCache KvCache::repeat_rows(int64_t k) const {
  if (k == 1) return *this;
  // each row k times in a row through a broadcast view and one copy: the same rows as
  // repeat_interleave, whose index_select backs up through an index_add_ (a scatter, 3 % of a
  // training step); a broadcast's backward is a plain sum over the k copies
  auto rep = [k](const torch::Tensor& t) {
    if (!t.defined()) return t;
    std::vector<int64_t> sizes = t.sizes().vec();
    sizes.insert(sizes.begin() + 1, k);
    std::vector<int64_t> rows = t.sizes().vec();
    rows[0] *= k;
    return t.unsqueeze(1).expand(sizes).reshape(rows);
  };
  KvCache out;
  for (const auto& kv : layers) out.layers.push_back({rep(kv.k), rep(kv.v), rep(kv.k_t)});
  out.key_bias = rep(key_bias);
  out.action_bias = rep(action_bias);
  out.prefix_hidden = rep(prefix_hidden);
  return out;
}

KvCache BackboneImpl::encode_prefix(const torch::Tensor& prefix, const torch::Tensor& key_valid) {
  const int64_t P = prefix.size(1);
  AVLA_CHECK(P == cfg.prefix_len(), "backbone", "prefix has {} tokens, expected {}", P,
             cfg.prefix_len());
  rope.place_on(prefix.device());
  KvCache cache;
  cache.key_bias = key_padding_bias(key_valid);
  cache.action_bias =
      torch::cat({cache.key_bias,
                  torch::zeros({prefix.size(0), 1, 1, cfg.chunk_len}, cache.key_bias.options())},
                 3);
  RotaryTable pos = rope.slice(0, P);
  // (B, P, d) through every layer, keeping each layer's k, v
  torch::Tensor x = prefix;
  cache.layers.resize(layers->size());
  for (size_t i = 0; i < layers->size(); ++i) {
    x = layers[i]->as<DecoderLayerImpl>()->forward(x, pos, nullptr, cache.key_bias,
                                                   &cache.layers[i]);
  }
  cache.prefix_hidden = norm(x);
  return cache;
}

torch::Tensor BackboneImpl::forward_actions(const KvCache& cache, const torch::Tensor& actions) {
  const int64_t B = actions.size(0), L = actions.size(1), P = cache.prefix_len();
  AVLA_CHECK(B == cache.batch(), "backbone", "actions have batch {}, cache has {}", B,
             cache.batch());
  rope.place_on(actions.device());
  RotaryTable pos = rope.slice(P, L);
  AVLA_CHECK(L == cfg.chunk_len, "backbone", "{} action tokens, expected chunk_len {}", L,
             cfg.chunk_len);
  // keys: [prefix (cached) | actions]; actions see every non-padding key
  const torch::Tensor& bias = cache.action_bias;  // (B, 1, 1, P + L)
  torch::Tensor x = actions;
  for (size_t i = 0; i < layers->size(); ++i) {
    x = layers[i]->as<DecoderLayerImpl>()->forward(x, pos, &cache.layers[i], bias);
  }
  return norm(x);
}

torch::Tensor BackboneImpl::forward_full(const torch::Tensor& prefix,
                                         const torch::Tensor& key_valid,
                                         const torch::Tensor& actions,
                                         torch::Tensor* prefix_hidden) {
  const int64_t B = prefix.size(0), P = prefix.size(1), L = actions.size(1);
  // block mask (B, 1, T, T): prefix rows see valid prefix keys only; action rows see valid
  // prefix keys and all actions
  torch::Tensor key_ok =
      torch::cat({key_valid, torch::ones({B, L}, key_valid.options().dtype(torch::kBool))}, 1);
  // (B, T)
  torch::Tensor allowed = key_ok.view({B, 1, 1, P + L}).repeat({1, 1, P + L, 1});
  allowed.narrow(2, 0, P).narrow(3, P, L).fill_(false);
  torch::Tensor bias = torch::zeros(allowed.sizes(), allowed.options().dtype(torch::kFloat32))
                           .masked_fill(allowed.logical_not(), kMaskedBias);

  torch::Tensor x = torch::cat({prefix, actions}, 1);  // (B, P + L, d)
  rope.place_on(x.device());
  RotaryTable pos = rope.slice(0, P + L);
  for (size_t i = 0; i < layers->size(); ++i) {
    x = layers[i]->as<DecoderLayerImpl>()->forward(x, pos, nullptr, bias);
  }
  x = norm(x);
  if (prefix_hidden != nullptr) *prefix_hidden = x.narrow(1, 0, P);
  return x.narrow(1, P, L);
}

}  // namespace avla
