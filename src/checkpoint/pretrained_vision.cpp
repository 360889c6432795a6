#include "checkpoint/pretrained_vision.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/json_file.h"
#include "io/tensor_file.h"
#include "util/error.h"

namespace avla {

namespace {

// the model config a pretraining run saved in dir/config.json
ModelConfig pretrained_config(const std::string& dir) {
  const std::string config_path = dir + "/config.json";
  const nlohmann::json j = read_json_file(config_path, "init-vision");
  AVLA_CHECK(j.is_object() && j.contains("model"), "init-vision",
             "{}: no 'model' section (is '{}' a pretrain-vision output?)", config_path, dir);
  return model_config_from_json(j.at("model"), config_path);
}

}  // namespace

void save_pretrained_vision(const std::string& dir, const ModelConfig& cfg,
                            VisionEncoderImpl& encoder) {
  std::filesystem::create_directories(dir);
  TensorMap tensors;
  for (auto& [name, t] : module_state(encoder)) tensors["vision_encoder." + name] = t;
  save_tensor_map(dir + "/vision_encoder.safetensors", tensors);
  write_file_atomic(dir + "/config.json", nlohmann::json{{"model", to_json(cfg)}}.dump(2) + "\n");
}

void load_pretrained_vision(VisionEncoderImpl& encoder, const ModelConfig& cfg,
                            const std::string& dir) {
  const ModelConfig saved = pretrained_config(dir);
  auto same = [&](const char* field, const auto& mine, const auto& theirs) {
    AVLA_CHECK(mine == theirs, "init-vision",
               "model.{} is {} but the pretrained encoder in {} has {}", field,
               fmt::format("{}", mine), dir, fmt::format("{}", theirs));
  };
  same("image_size", cfg.image_size, saved.image_size);
  same("vision_stem", cfg.vision_stem, saved.vision_stem);
  same("patch_size", cfg.patch_size, saved.patch_size);
  same("vision_dim", cfg.vision_dim, saved.vision_dim);
  same("vision_layers", cfg.vision_layers, saved.vision_layers);
  same("vision_heads", cfg.vision_heads, saved.vision_heads);
  same("vision_ff", cfg.vision_ff, saved.vision_ff);
  same("d_model", cfg.d_model, saved.d_model);
  load_module_strict(encoder, dir + "/vision_encoder.safetensors", "vision_encoder.");
}

int pretrained_probe_slots(const std::string& dir) {
  const std::string path = dir + "/probe.json";
  const nlohmann::json j = read_json_file(path, "init-vision");
  AVLA_CHECK(
      j.is_object() && j.contains("slots") && j.at("slots").is_array() && !j.at("slots").empty(),
      "init-vision", "{}: no 'slots' list (a scene token needs the probe's label slots)", path);
  return static_cast<int>(j.at("slots").size());
}

bool pretrained_probe_yaw(const std::string& dir) {
  return pretrained_config(dir).probe_yaw;
}

void load_pretrained_probe(VisionProbeImpl& probe, const ModelConfig& cfg, const std::string& dir) {
  const ModelConfig saved = pretrained_config(dir);
  AVLA_CHECK(cfg.n_cam == saved.n_cam, "init-vision",
             "model.n_cam is {} but the probe in {} was pretrained on {} camera(s) per frame (a "
             "scene token needs the pretraining corpus's camera count)",
             cfg.n_cam, dir, saved.n_cam);
  AVLA_CHECK(cfg.probe_yaw == saved.probe_yaw, "init-vision",
             "model.probe_yaw is {} but the probe in {} was pretrained {} yaw labels",
             cfg.probe_yaw, dir, cfg.probe_yaw ? "without" : "with");
  load_module_strict(probe, dir + "/probe.safetensors", "probe.");
}

}  // namespace avla
