#include "model/vla.h"

#include "model/linear.h"
#include "util/error.h"

namespace avla {

ObservationBatch ObservationBatch::index(const torch::Tensor& rows) const {
  return {images.index_select(0, rows), state.index_select(0, rows), tokens.index_select(0, rows),
          token_mask.index_select(0, rows),
          image_tokens.defined() ? image_tokens.index_select(0, rows) : torch::Tensor()};
}

void check_observation(const ObservationBatch& obs, const ModelConfig& cfg) {
  AVLA_CHECK(obs.state.defined() && obs.state.dim() == 2 && obs.state.size(1) == cfg.state_dim,
             "vla", "observation.state has shape {}, expected [B,{}]",
             obs.state.defined() ? c10::str(obs.state.sizes()) : "undefined", cfg.state_dim);
  const int64_t B = obs.state.size(0);
  AVLA_CHECK(obs.images.defined() && obs.images.scalar_type() == torch::kUInt8 &&
                 obs.images.sizes() ==
                     torch::IntArrayRef({B, cfg.n_cam, 3, cfg.image_size, cfg.image_size}),
             "vla", "observation.images has shape {}, expected uint8 [{},{},3,{},{}]",
             obs.images.defined() ? c10::str(obs.images.sizes()) : "undefined", B, cfg.n_cam,
             cfg.image_size, cfg.image_size);
  AVLA_CHECK(
      obs.tokens.defined() && obs.tokens.sizes() == torch::IntArrayRef({B, cfg.max_text_len}),
      "vla", "observation.tokens has shape {}, expected [{},{}]",
      obs.tokens.defined() ? c10::str(obs.tokens.sizes()) : "undefined", B, cfg.max_text_len);
  AVLA_CHECK(obs.token_mask.defined() && obs.token_mask.scalar_type() == torch::kBool &&
                 obs.token_mask.sizes() == obs.tokens.sizes(),
             "vla", "observation.token_mask must be bool with the shape of tokens");
  AVLA_CHECK(torch::isfinite(obs.state).all().item<bool>(), "vla",
             "observation.state contains NaN or Inf");
}

VLAImpl::VLAImpl(const ModelConfig& cfg_) : cfg(cfg_) {
  cfg.validate();
  vision_encoder = register_module("vision_encoder", VisionEncoder(cfg));
  backbone = register_module("backbone", Backbone(cfg));
  action_embedding = register_module("action_embedding", ActionEmbedding(cfg));
  action_out_proj =
      register_module("action_out_proj", torch::nn::Linear(cfg.d_model, cfg.action_dim));
  if (cfg.aux_object_dim > 0) {
    object_token_proj =
        register_module("object_token_proj", torch::nn::Linear(cfg.d_model, kObjectTokenFeatures));
    object_out_proj =
        register_module("object_out_proj",
                        torch::nn::Linear(cfg.n_cam * cfg.tokens_per_cam() * kObjectTokenFeatures,
                                          cfg.aux_object_dim));
  }
}

std::pair<torch::Tensor, torch::Tensor> VLAImpl::embed_prefix(const ObservationBatch& obs) {
  const int64_t B = obs.batch();
  // image (B, n_cam*tpc, d) | text (B, T, d) | state (B, 1, d)
  torch::Tensor image_tokens =
      obs.image_tokens.defined() ? obs.image_tokens : vision_encoder(obs.images);
  torch::Tensor text_tokens = backbone->embed_tokens(obs.tokens);
  torch::Tensor state_token = linear(obs.state, backbone->state_proj).unsqueeze(1);
  torch::Tensor prefix = torch::cat({image_tokens, text_tokens.to(image_tokens.scalar_type()),
                                     state_token.to(image_tokens.scalar_type())},
                                    1);
  torch::Tensor key_valid = torch::cat({torch::ones({B, image_tokens.size(1)}, torch::kBool),
                                        obs.token_mask, torch::ones({B, 1}, torch::kBool)},
                                       1);
  return {prefix, key_valid};
}

KvCache VLAImpl::encode_prefix(const ObservationBatch& obs) {
  auto [prefix, key_valid] = embed_prefix(obs);
  return backbone->encode_prefix(prefix, key_valid);
}

torch::Tensor VLAImpl::velocity(const KvCache& cache, const torch::Tensor& noisy,
                                const torch::Tensor& token_time) {
  AVLA_CHECK(noisy.dim() == 3 && noisy.size(1) == cfg.chunk_len && noisy.size(2) == cfg.action_dim,
             "vla", "noisy actions have shape {}, expected [B,{},{}]", c10::str(noisy.sizes()),
             cfg.chunk_len, cfg.action_dim);
  AVLA_CHECK(token_time.sizes() == noisy.sizes().slice(0, 2), "vla",
             "token_time has shape {}, expected {}", c10::str(token_time.sizes()),
             c10::str(noisy.sizes().slice(0, 2)));
  // (B, L, A) -> (B, L, d) -> backbone -> (B, L, d) -> (B, L, A)
  torch::Tensor x = action_embedding(noisy, token_time);
  torch::Tensor h = backbone->forward_actions(cache, x);
  return linear(h, action_out_proj).to(torch::kFloat32);
}

torch::Tensor VLAImpl::velocity_full(const ObservationBatch& obs, const torch::Tensor& noisy,
                                     const torch::Tensor& token_time) {
  auto [prefix, key_valid] = embed_prefix(obs);
  torch::Tensor x = action_embedding(noisy, token_time);
  torch::Tensor h = backbone->forward_full(prefix, key_valid, x);
  return linear(h, action_out_proj).to(torch::kFloat32);
}

torch::Tensor VLAImpl::predict_object_state(const KvCache& cache) {
  AVLA_CHECK(cfg.aux_object_dim > 0, "vla",
             "predict_object_state needs model.aux_object_dim > 0 (the model has no object head)");
  const int64_t B = cache.prefix_hidden.size(0), n_img = cfg.n_cam * cfg.tokens_per_cam();
  // image tokens (B, n_img, d) -> (B, n_img, F) -> (B, n_img * F) -> (B, aux_object_dim)
  torch::Tensor image = cache.prefix_hidden.narrow(1, 0, n_img);
  torch::Tensor features = torch::gelu(linear(image, object_token_proj)).reshape({B, -1});
  return linear(features, object_out_proj).to(torch::kFloat32);
}

}  // namespace avla
