#include "data/observation.h"

#include "data/libero_file.h"
#include "data/state_features.h"
#include "util/error.h"

namespace avla {

Observation demo_observation(const LiberoDemo& demo, int64_t t, const std::string& instruction,
                             int image_rotation, bool privileged, int n_cam) {
  Observation obs;
  if (n_cam >= 1) obs.images.push_back(rotate_image(demo.agentview_rgb[t], image_rotation));
  if (n_cam >= 2 && demo.eye_in_hand_rgb.defined()) {
    obs.images.push_back(rotate_image(demo.eye_in_hand_rgb[t], image_rotation));
  }
  std::vector<torch::Tensor> raw{demo.ee_states[t], demo.gripper_states[t]};
  if (privileged) {
    AVLA_CHECK(demo.object_states.defined(), "observation",
               "the checkpoint takes the privileged object state, and this demo has no "
               "obs/object_states");
    raw.push_back(demo.object_states[t]);
  }
  obs.state = torch::cat(raw).to(torch::kFloat32);
  obs.instruction = instruction;
  return obs;
}

torch::Tensor rotate_image(const torch::Tensor& image, int degrees) {
  AVLA_CHECK(degrees == 0 || degrees == 180, "observation", "image rotation {} is not 0 or 180",
             degrees);
  return degrees == 180 ? image.flip({0, 1}) : image;  // (H, W, 3)
}

torch::Tensor resize_images(const torch::Tensor& hwc, int size) {
  // (N, H, W, 3) -> (N, 3, H, W) -> (N, 3, size, size)
  torch::Tensor chw = hwc.permute({0, 3, 1, 2});
  if (hwc.size(1) == size && hwc.size(2) == size) return chw.contiguous();
  namespace F = torch::nn::functional;
  torch::Tensor x =
      F::interpolate(chw.to(torch::kFloat32), F::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{size, size})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false)
                                                  .antialias(true));
  return x.round().clamp(0, 255).to(torch::kUInt8);
}

torch::Tensor observation_state_features(const torch::Tensor& raw) {
  AVLA_CHECK(raw.defined() && raw.is_floating_point(), "observation",
             "raw state must be a float tensor, found {}",
             raw.defined() ? c10::toString(raw.scalar_type()) : "undefined");
  // (..., 8 [+ k]) -> float32 -> (..., 11 [+ k])
  return state_features(raw.to(torch::kFloat32));
}

std::pair<torch::Tensor, torch::Tensor> token_tensors(const TokenizedText& text) {
  const int64_t n = static_cast<int64_t>(text.ids.size());
  torch::Tensor ids = torch::tensor(text.ids, torch::kInt64).view({1, n});
  torch::Tensor mask =
      torch::tensor(std::vector<int64_t>(text.mask.begin(), text.mask.end()), torch::kInt64)
          .to(torch::kBool)
          .view({1, n});
  return {ids, mask};
}

ObservationEncoder::ObservationEncoder(const ModelConfig& config, const Normalizer& normalizer,
                                       const Tokenizer& tokenizer, std::string source)
    : config_(config), normalizer_(normalizer), tokenizer_(tokenizer), source_(std::move(source)) {}

torch::Tensor ObservationEncoder::normalized_state(const torch::Tensor& raw) const {
  const torch::Tensor features = observation_state_features(raw);     // (state_dim) float32
  const torch::Tensor z = normalizer_.state.normalize(features);      // (state_dim)
  const torch::Tensor off = z.abs().le(kMaxStateStds).logical_not();  // NaN and Inf too
  if (off.any().item<bool>()) {
    const int64_t i = off.nonzero()[0][0].item<int64_t>();
    const NormStats& stats = normalizer_.state;
    fail("policy",
         "observation.state is out of range: feature {} ({}) is {:.6g}, {:.3g} standard deviations "
         "from the training mean {:.4g} (std {:.3g}) of checkpoint '{}'; more than {:g} means "
         "another unit or a broken sensor",
         i, state_feature_name(static_cast<int>(i)), features[i].item<double>(),
         z[i].abs().item<double>(), stats.mean[i].item<double>(), stats.std[i].item<double>(),
         source_, kMaxStateStds);
  }
  return z;
}

ObservationBatch ObservationEncoder::encode(const std::vector<Observation>& observations) const {
  AVLA_CHECK(!observations.empty(), "policy", "no observations to encode");
  std::vector<torch::Tensor> images, states, tokens, masks;
  for (const Observation& obs : observations) {
    AVLA_CHECK(static_cast<int>(obs.images.size()) == config_.n_cam, "policy",
               "observation has {} images, expected {}", obs.images.size(), config_.n_cam);
    std::vector<torch::Tensor> cams;
    for (size_t i = 0; i < obs.images.size(); ++i) {
      const torch::Tensor& img = obs.images[i];
      AVLA_CHECK(
          img.defined() && img.dim() == 3 && img.size(2) == 3 && img.scalar_type() == torch::kUInt8,
          "policy", "observation.images[{}] has shape {}, expected uint8 [H,W,3]", i,
          img.defined() ? c10::str(img.sizes()) : "undefined");
      // upright -> the orientation the model was trained on, then its resolution
      cams.push_back(resize_images(rotate_image(img, config_.image_rotation).unsqueeze(0),
                                   config_.image_size));  // (1, 3, S, S)
    }
    const int privileged = privileged_dims(config_.state_dim);
    AVLA_CHECK(
        obs.state.defined() && obs.state.dim() == 1 &&
            obs.state.size(0) == raw_state_dim + privileged,
        "policy",
        "observation.state has shape {}, expected [{}] (ee pos 3, ee axis-angle 3, fingers 2{})",
        obs.state.defined() ? c10::str(obs.state.sizes()) : "undefined", raw_state_dim + privileged,
        privileged > 0 ? fmt::format(", privileged object state {}", privileged) : "");
    AVLA_CHECK(obs.state.is_floating_point(), "policy",
               "observation.state has dtype {}, expected a float type",
               c10::toString(obs.state.scalar_type()));
    AVLA_CHECK(torch::isfinite(obs.state).all().item<bool>(), "policy",
               "observation.state contains NaN or Inf");
    const int64_t S = config_.image_size;
    images.push_back(cams.empty() ? torch::empty({1, 0, 3, S, S}, torch::kUInt8)
                                  : torch::stack(cams, 1));  // (1, n_cam, 3, S, S)
    states.push_back(normalized_state(obs.state).unsqueeze(0));
    auto [ids, mask] = token_tensors(tokenizer_.encode(obs.instruction, config_.max_text_len));
    tokens.push_back(ids);
    masks.push_back(mask);
  }
  ObservationBatch batch;
  batch.images = torch::cat(images);  // (B, n_cam, 3, S, S)
  batch.state = torch::cat(states);   // (B, state_dim)
  batch.tokens = torch::cat(tokens);  // (B, T)
  batch.token_mask = torch::cat(masks);
  return batch;
}

}  // namespace avla
