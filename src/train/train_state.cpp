#include "train/train_state.h"

#include <filesystem>

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
  auto it = metadata.find("step");
  AVLA_CHECK(it != metadata.end(), "checkpoint", "{}: metadata has no 'step'", path);
  try {
    out.step = std::stoll(it->second);
  } catch (const std::exception&) {
    fail("checkpoint", "{}: metadata step '{}' is not an integer", path, it->second);
  }
  if (auto e = metadata.find("elapsed_s"); e != metadata.end()) {
    try {
      out.elapsed_s = std::stod(e->second);
    } catch (const std::exception&) {
      fail("checkpoint", "{}: metadata elapsed_s '{}' is not a number", path, e->second);
    }
  }
  if (auto w = metadata.find("world_size"); w != metadata.end()) {
    try {
      out.world_size = std::stoi(w->second);
    } catch (const std::exception&) {
      fail("checkpoint", "{}: metadata world_size '{}' is not an integer", path, w->second);
    }
  }
  AVLA_CHECK(out.tensors.count("rng_state") != 0, "checkpoint", "{}: missing tensor 'rng_state'",
             path);
  out.rng_state = out.tensors["rng_state"];
  out.tensors.erase("rng_state");
  return out;
}

}  // namespace avla
