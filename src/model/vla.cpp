#include "model/vla.h"

#include "model/backend.h"
#include "model/linear.h"
#include "util/error.h"

namespace avla {

ObservationBatch ObservationBatch::index(const torch::Tensor& rows) const {
  return {images.index_select(0, rows), state.index_select(0, rows), tokens.index_select(0, rows),
          token_mask.index_select(0, rows),
          image_tokens.defined() ? image_tokens.index_select(0, rows) : torch::Tensor()};
}

ObservationBatch ObservationBatch::to(const torch::Device& device) const {
  return {to_device(images, device), to_device(state, device), to_device(tokens, device),
          to_device(token_mask, device), to_device(image_tokens, device)};
}

VLAImpl::VLAImpl(const ModelConfig& cfg_) : cfg(cfg_) {
  cfg.validate();
  if (cfg.n_cam > 0) vision_encoder = register_module("vision_encoder", VisionEncoder(cfg));
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
  if (cfg.scene_slots > 0) {
    vision_probe = register_module("vision_probe", VisionProbe(cfg, cfg.scene_slots));
    scene_proj =
        register_module("scene_proj", torch::nn::Linear(vision_probe->n_outputs(), cfg.d_model));
  }
}

std::pair<torch::Tensor, torch::Tensor> VLAImpl::embed_prefix(const ObservationBatch& obs) {
  const int64_t B = obs.batch();
  // image (B, n_cam*tpc, d) | scene (B, 0 or 1, d) | text (B, T, d) | state (B, 1, d)
  torch::Tensor text = backbone->embed_tokens(obs.tokens);
  torch::Tensor image_tokens;
  if (cfg.n_cam == 0) {
    // a state-only model: no image tokens, the prefix starts at the text
    image_tokens = torch::empty({B, 0, cfg.d_model}, text.options());
  } else {
    image_tokens = obs.image_tokens.defined() ? obs.image_tokens : vision_encoder(obs.images);
  }
  const auto dtype = image_tokens.scalar_type();
  std::vector<torch::Tensor> parts = {image_tokens};
  if (cfg.scene_slots > 0) {
    parts.push_back(linear(scene_features(image_tokens), scene_proj).unsqueeze(1).to(dtype));
  }
  parts.push_back(text.to(dtype));
  parts.push_back(linear(obs.state, backbone->state_proj).unsqueeze(1).to(dtype));
  torch::Tensor prefix = torch::cat(parts, 1);
  torch::Tensor key_valid = torch::cat(
      {torch::ones({B, image_tokens.size(1) + cfg.scene_tokens()}, obs.token_mask.options()),
       obs.token_mask, torch::ones({B, 1}, obs.token_mask.options())},
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

torch::Tensor VLAImpl::scene_features(const torch::Tensor& image_tokens) {
  AVLA_CHECK(cfg.scene_slots > 0, "vla",
             "scene_features needs model.scene_slots > 0 (the model has no scene token)");
  // (B, n_img, d) -> probe heads -> (B, 4k + 11 [+ 2k])
  const ProbeOutput est = vision_probe(image_tokens);
  torch::Tensor presence = torch::sigmoid(est.presence_logit);  // (B, k)
  torch::Tensor position = (est.slot_pos * presence.unsqueeze(2)).flatten(1);
  std::vector<torch::Tensor> parts = {presence,   position,    est.drawer.unsqueeze(1),
                                      est.ee_pos, est.ee_rot6, est.gripper.unsqueeze(1)};
  if (cfg.probe_yaw) parts.push_back((est.slot_yaw * presence.unsqueeze(2)).flatten(1));
  return torch::cat(parts, 1);
}

}  // namespace avla
