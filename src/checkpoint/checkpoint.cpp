#include "checkpoint/checkpoint.h"

#include <filesystem>

#include "io/atomic_file.h"
#include "io/json_file.h"
#include "io/tensor_file.h"
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

}  // namespace avla
