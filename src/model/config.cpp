#include "model/config.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "io/json_file.h"
#include "util/error.h"

namespace avla {

namespace {

// one table of fields per struct drives both directions (io/json_file.h)
template <typename Struct, typename Fn>
void model_fields(Struct& c, Fn&& f) {
  f("n_cam", c.n_cam);
  f("image_size", c.image_size);
  f("image_rotation", c.image_rotation);
  f("state_dim", c.state_dim);
  f("max_text_len", c.max_text_len);
  f("vocab_size", c.vocab_size);
  f("vision_stem", c.vision_stem);
  f("patch_size", c.patch_size);
  f("vision_dim", c.vision_dim);
  f("vision_layers", c.vision_layers);
  f("vision_heads", c.vision_heads);
  f("vision_ff", c.vision_ff);
  f("d_model", c.d_model);
  f("n_layer", c.n_layer);
  f("n_head", c.n_head);
  f("n_kv_head", c.n_kv_head);
  f("d_ff", c.d_ff);
  f("rope_theta", c.rope_theta);
  f("rms_eps", c.rms_eps);
  f("action_dim", c.action_dim);
  f("chunk_len", c.chunk_len);
  f("time_min_period", c.time_min_period);
  f("time_max_period", c.time_max_period);
  f("n_flow_steps", c.n_flow_steps);
  f("aux_object_dim", c.aux_object_dim);
  f("scene_slots", c.scene_slots);
  f("probe_yaw", c.probe_yaw);
}

template <typename Struct, typename Fn>
void train_fields(Struct& c, Fn&& f) {
  f("steps", c.steps);
  f("time_limit_s", c.time_limit_s);
  f("batch", c.batch);
  f("lr", c.lr);
  f("vision_lr_scale", c.vision_lr_scale);
  f("weight_decay", c.weight_decay);
  f("beta1", c.beta1);
  f("beta2", c.beta2);
  f("adam_eps", c.adam_eps);
  f("warmup_steps", c.warmup_steps);
  f("min_lr_ratio", c.min_lr_ratio);
  f("grad_clip", c.grad_clip);
  f("log_every", c.log_every);
  f("save_every", c.save_every);
  f("vanilla", c.vanilla);
  f("sfm_share", c.sfm_share);
  f("flow_draws", c.flow_draws);
  f("context_noise", c.context_noise);
  f("aug_shift", c.aug_shift);
  f("ema_decay", c.ema_decay);
  f("keep_every", c.keep_every);
  f("bf16", c.bf16);
  f("seed", c.seed);
  f("pause_eps", c.pause_eps);
  f("state_std_floor", c.state_std_floor);
  f("action_range_floor", c.action_range_floor);
  f("aux_object_weight", c.aux_object_weight);
  f("init_vision", c.init_vision);
  f("freeze_vision", c.freeze_vision);
  f("cache_vision", c.cache_vision);
}

}  // namespace

void ModelConfig::validate() const {
  auto positive = [](const char* name, double v) {
    AVLA_CHECK(v > 0, "config", "model.{} must be positive, found {}", name, v);
  };
  model_fields(*this, [&](const char* name, const auto& v) {
    const std::string n = name;
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(v)>>) {
      if (n != "vocab_size" && n != "image_rotation" && n != "aux_object_dim" &&
          n != "scene_slots" && n != "n_cam" && n != "probe_yaw") {
        positive(name, static_cast<double>(v));
      }
    }
  });
  AVLA_CHECK(vision_stem == "patch" || vision_stem == "conv", "config",
             "model.vision_stem must be \"patch\" or \"conv\", found \"{}\"", vision_stem);
  AVLA_CHECK(vision_stem == "patch" || (patch_size >= 2 && (patch_size & (patch_size - 1)) == 0),
             "config", "model.vision_stem \"conv\" needs a power-of-two patch_size, found {}",
             patch_size);
  AVLA_CHECK(image_rotation == 0 || image_rotation == 180, "config",
             "model.image_rotation must be 0 (upright) or 180 (upside down), found {}",
             image_rotation);
  AVLA_CHECK(d_model % n_head == 0, "config", "model.d_model {} is not divisible by n_head {}",
             d_model, n_head);
  AVLA_CHECK(n_head % n_kv_head == 0, "config", "model.n_head {} is not divisible by n_kv_head {}",
             n_head, n_kv_head);
  AVLA_CHECK(head_dim() % 2 == 0, "config", "model head_dim {} must be even for rotary positions",
             head_dim());
  AVLA_CHECK(vision_dim % vision_heads == 0, "config",
             "model.vision_dim {} is not divisible by vision_heads {}", vision_dim, vision_heads);
  AVLA_CHECK(image_size % (2 * patch_size) == 0, "config",
             "model.image_size {} must be a multiple of 2 * patch_size ({})", image_size,
             2 * patch_size);
  AVLA_CHECK(d_model % 2 == 0, "config", "model.d_model {} must be even", d_model);
  AVLA_CHECK(aux_object_dim >= 0, "config", "model.aux_object_dim must be >= 0, found {}",
             aux_object_dim);
  AVLA_CHECK(scene_slots >= 0, "config", "model.scene_slots must be >= 0, found {}", scene_slots);
  AVLA_CHECK(n_cam >= 0 && n_cam <= 2, "config",
             "model.n_cam must be 0 (state only), 1 (agentview) or 2 (agentview, wrist), found {}",
             n_cam);
  AVLA_CHECK(n_cam > 0 || (aux_object_dim == 0 && scene_slots == 0), "config",
             "model.n_cam 0 (no cameras) has no image tokens for aux_object_dim {} or scene_slots "
             "{} to read",
             aux_object_dim, scene_slots);
}

void TrainConfig::validate() const {
  AVLA_CHECK(steps > 0, "config", "train.steps must be positive, found {}", steps);
  AVLA_CHECK(batch > 0, "config", "train.batch must be positive, found {}", batch);
  AVLA_CHECK(std::isfinite(time_limit_s) && time_limit_s >= 0, "config",
             "train.time_limit_s must be >= 0, found {}", time_limit_s);
  AVLA_CHECK(lr > 0, "config", "train.lr must be positive, found {}", lr);
  AVLA_CHECK(warmup_steps >= 0, "config", "train.warmup_steps must be >= 0, found {}",
             warmup_steps);
  AVLA_CHECK(log_every > 0, "config", "train.log_every must be positive, found {}", log_every);
  AVLA_CHECK(save_every > 0, "config", "train.save_every must be positive, found {}", save_every);
  AVLA_CHECK(sfm_share >= 0 && sfm_share <= 1, "config",
             "train.sfm_share must be in [0, 1], found {}", sfm_share);
  AVLA_CHECK(flow_draws >= 1, "config", "train.flow_draws must be >= 1, found {}", flow_draws);
  AVLA_CHECK(std::isfinite(context_noise) && context_noise >= 0 && context_noise <= 10, "config",
             "train.context_noise must be in [0, 10], found {}", context_noise);
  AVLA_CHECK(aug_shift >= 0, "config", "train.aug_shift must be >= 0, found {}", aug_shift);
  AVLA_CHECK(state_std_floor >= 0, "config", "train.state_std_floor must be >= 0, found {}",
             state_std_floor);
  AVLA_CHECK(action_range_floor >= 0 && action_range_floor <= 2, "config",
             "train.action_range_floor must be in [0, 2] (actions span [-1, 1]), found {}",
             action_range_floor);
  AVLA_CHECK(ema_decay >= 0 && ema_decay < 1, "config",
             "train.ema_decay must be in [0, 1), found {}", ema_decay);
  AVLA_CHECK(keep_every >= 0, "config", "train.keep_every must be >= 0, found {}", keep_every);
  AVLA_CHECK(std::isfinite(aux_object_weight) && aux_object_weight >= 0, "config",
             "train.aux_object_weight must be >= 0, found {}", aux_object_weight);
  AVLA_CHECK(std::isfinite(vision_lr_scale) && vision_lr_scale >= 0, "config",
             "train.vision_lr_scale must be >= 0, found {}", vision_lr_scale);
  AVLA_CHECK(!freeze_vision || !init_vision.empty(), "config",
             "train.freeze_vision needs train.init_vision (a frozen random encoder sees nothing)");
  AVLA_CHECK(
      !cache_vision || (freeze_vision && aug_shift == 0), "config",
      "train.cache_vision needs train.freeze_vision and train.aug_shift 0 (found {} and {}): "
      "only a fixed encoder on fixed images has tokens to cache",
      freeze_vision, aug_shift);
}

nlohmann::json to_json(const ModelConfig& c) {
  return struct_to_json(c, [](auto& s, auto&& f) { model_fields(s, f); });
}

nlohmann::json to_json(const TrainConfig& c) {
  return struct_to_json(c, [](auto& s, auto&& f) { train_fields(s, f); });
}

nlohmann::json to_json(const Config& c) {
  return {{"model", to_json(c.model)}, {"train", to_json(c.train)}};
}

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& source) {
  return struct_from_json<ModelConfig>(j, source, "config", "model",
                                       [](auto& c, auto&& f) { model_fields(c, f); });
}

TrainConfig train_config_from_json(const nlohmann::json& j, const std::string& source) {
  return struct_from_json<TrainConfig>(j, source, "config", "train",
                                       [](auto& c, auto&& f) { train_fields(c, f); });
}

Config config_from_json(const nlohmann::json& j, const std::string& source) {
  AVLA_CHECK(j.is_object(), "config", "{}: expected a JSON object", source);
  Config c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    AVLA_CHECK(it.key() == "model" || it.key() == "train", "config", "{}: unknown section '{}'",
               source, it.key());
  }
  if (j.contains("model")) c.model = model_config_from_json(j["model"], source);
  if (j.contains("train")) c.train = train_config_from_json(j["train"], source);
  return c;
}

Config load_config(const std::string& path) {
  return config_from_json(read_json_file(path, "config"), path);
}

}  // namespace avla
