#include "train/train_state.h"

#include <filesystem>

#include "io/safetensors.h"
#include "util/error.h"

namespace avla {

namespace fs = std::filesystem;

void save_train_state(const std::string& dir, const TrainState& state) {
  TensorMap all = state.tensors;
  all["rng_state"] = state.rng_state;
  save_tensor_map(dir + "/train_state.safetensors", all,
                  {{"step", std::to_string(state.step)},
                   {"elapsed_s", fmt::format("{:.3f}", state.elapsed_s)},
                   {"world_size", std::to_string(state.world_size)}});
}

TrainState load_train_state(const std::string& dir) {
  const std::string path = dir + "/train_state.safetensors";
  AVLA_CHECK(fs::exists(path), "checkpoint", "cannot resume: '{}' does not exist", path);
  TrainState out;
  std::map<std::string, std::string> metadata;
  out.tensors = load_tensor_map(path, &metadata);
  const auto step = metadata_int(metadata, "step", path);
  AVLA_CHECK(step.has_value(), "checkpoint", "{}: metadata has no 'step'", path);
  AVLA_CHECK(*step >= 0, "checkpoint", "{}: metadata step {} is negative", path, *step);
  out.step = *step;
  if (const auto elapsed = metadata_double(metadata, "elapsed_s", path)) out.elapsed_s = *elapsed;
  if (const auto world = metadata_int(metadata, "world_size", path)) {
    AVLA_CHECK(*world >= 1 && *world <= 1 << 16, "checkpoint",
               "{}: metadata world_size {} is outside [1, 65536]", path, *world);
    out.world_size = static_cast<int>(*world);
  }
  AVLA_CHECK(out.tensors.count("rng_state") != 0, "checkpoint", "{}: missing tensor 'rng_state'",
             path);
  out.rng_state = out.tensors["rng_state"];
  out.tensors.erase("rng_state");
  return out;
}

}  // namespace avla
