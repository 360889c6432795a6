// the asyncvla model: vision encoder + text/state embeddings -> backbone prefix (kv-cache);
// asynchronous time embedding of the noisy chunk -> backbone action tokens -> flow head V_theta.
#pragma once

#include <torch/torch.h>

#include "model/action_embedding.h"
#include "model/backbone.h"
#include "model/config.h"
#include "model/vision_encoder.h"
#include "model/vision_probe.h"

namespace avla {

// a batch of model inputs, already normalized and tokenized.
struct ObservationBatch {
  torch::Tensor images;      // (B, n_cam, 3, H, W) uint8 at the model resolution
  torch::Tensor state;       // (B, state_dim) float32, normalized
  torch::Tensor tokens;      // (B, max_text_len) int64
  torch::Tensor token_mask;  // (B, max_text_len) bool, true for real tokens
  // (B, n_cam * tokens_per_cam, d_model) the vision encoder's tokens of images, precomputed (a
  // frozen encoder's cache in training), or undefined: the encoder runs on images
  torch::Tensor image_tokens;
  int64_t batch() const { return state.size(0); }
  ObservationBatch index(const torch::Tensor& rows) const;  // select rows (for batching)
  ObservationBatch to(const torch::Device& device) const;   // every defined tensor on device
};

struct VLAImpl : torch::nn::Module {
  explicit VLAImpl(const ModelConfig& cfg);

  // [image tokens | scene token | text tokens | state token]: embeddings (B, P, d) and key_valid
  // (B, P) bool
  std::pair<torch::Tensor, torch::Tensor> embed_prefix(const ObservationBatch& obs);
  // encodes the prefix once: the vl kv-cache shared by every sfm and afm step
  KvCache encode_prefix(const ObservationBatch& obs);
  // V_theta with the cache. noisy: (B, L, action_dim), token_time tau*m: (B, L) -> (B, L, A)
  torch::Tensor velocity(const KvCache& cache, const torch::Tensor& noisy,
                         const torch::Tensor& token_time);
  // V_theta without a cache (whole sequence, block mask): the reference the cache must match
  torch::Tensor velocity_full(const ObservationBatch& obs, const torch::Tensor& noisy,
                              const torch::Tensor& token_time);

  // the auxiliary object head (cfg.aux_object_dim > 0; training only): the image tokens of the
  // prefix's last layer, each projected to a few features and read out together so that where a
  // feature sits stays known. cache.prefix_hidden (B, P, d) -> (B, aux_object_dim) float32
  torch::Tensor predict_object_state(const KvCache& cache);

  // the scene token's features (cfg.scene_slots > 0): the probe's estimates from the image tokens,
  // each slot's position weighted by its presence so that an absent slot reads as zeros.
  // image_tokens (B, n_img, d) -> (B, 4 * scene_slots + 11 [+ 2 * scene_slots]) float32 laid out
  // as [presence (k) | presence * position (3k) | drawer | ee position (3) | ee rotation (6) |
  // gripper [| presence * yaw features (2k), with cfg.probe_yaw]]
  torch::Tensor scene_features(const torch::Tensor& image_tokens);

  ModelConfig cfg;
  VisionEncoder vision_encoder{nullptr};  // only when cfg.n_cam > 0
  Backbone backbone{nullptr};
  ActionEmbedding action_embedding{nullptr};
  torch::nn::Linear action_out_proj{nullptr};  // flow head: d -> action_dim
  // auxiliary object head, only when cfg.aux_object_dim > 0
  torch::nn::Linear object_token_proj{nullptr};  // d -> kObjectTokenFeatures per image token
  torch::nn::Linear object_out_proj{nullptr};    // n_img * kObjectTokenFeatures -> aux_object_dim
  static constexpr int64_t kObjectTokenFeatures = 32;
  // scene token, only when cfg.scene_slots > 0: a pretrained probe (frozen with the encoder) and
  // the projection of its estimates into the backbone
  VisionProbe vision_probe{nullptr};
  torch::nn::Linear scene_proj{nullptr};  // vision_probe->n_outputs() -> d
};
TORCH_MODULE(VLA);

}  // namespace avla
