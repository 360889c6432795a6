#include "train/checkpoint.h"

#include <filesystem>

#include "io/atomic_file.h"
#include "io/json_file.h"
#include "util/error.h"

namespace avla {

namespace fs = std::filesystem;

void save_checkpoint(const std::string& dir, const Config& config, VLAImpl& model,
                     const Normalizer& normalizer, const Tokenizer& tokenizer) {
  fs::create_directories(dir);
  write_file_atomic(dir + "/config.json", to_json(config).dump(2) + "\n");
  tokenizer.save(dir + "/tokenizer.json");
  normalizer.save(dir + "/norm_stats.json");
  save_tensor_map(dir + "/model.safetensors", module_state(model), {{"format", "asyncvla"}});
}

Checkpoint load_checkpoint(const std::string& dir) {
  AVLA_CHECK(fs::is_directory(dir), "checkpoint", "'{}' is not a checkpoint directory", dir);
  for (const char* name :
       {"config.json", "model.safetensors", "norm_stats.json", "tokenizer.json"}) {
    AVLA_CHECK(fs::exists(dir + "/" + name), "checkpoint", "{}: missing file '{}'", dir, name);
  }
  Checkpoint ck;
  ck.config =
      config_from_json(read_json_file(dir + "/config.json", "checkpoint"), dir + "/config.json");
  ck.tokenizer = load_tokenizer(dir + "/tokenizer.json");
  AVLA_CHECK(ck.tokenizer->vocab_size() == ck.config.model.vocab_size, "checkpoint",
             "{}: tokenizer has {} words, config.json says vocab_size {}", dir,
             ck.tokenizer->vocab_size(), ck.config.model.vocab_size);
  ck.normalizer = Normalizer::load(dir + "/norm_stats.json");
  AVLA_CHECK(ck.normalizer.state.dim() == ck.config.model.state_dim &&
                 ck.normalizer.actions.dim() == ck.config.model.action_dim,
             "checkpoint", "{}: norm_stats.json has state/action dims {}/{}, expected {}/{}", dir,
             ck.normalizer.state.dim(), ck.normalizer.actions.dim(), ck.config.model.state_dim,
             ck.config.model.action_dim);
  ck.model = VLA(ck.config.model);
  load_module_strict(*ck.model, dir + "/model.safetensors");
  ck.model->eval();
  return ck;
}

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
