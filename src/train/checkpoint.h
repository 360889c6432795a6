// a checkpoint is a directory: config.json, model.safetensors, norm_stats.json, tokenizer.json,
// and (while training) train_state.safetensors with the optimizer moments, the generator state
// and the step. every file is written atomically, model last-but-one and train state last.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "data/normalizer.h"
#include "io/tensor_file.h"
#include "model/config.h"
#include "model/tokenizer.h"
#include "model/vla.h"

namespace avla {

struct Checkpoint {
  Config config;
  VLA model{nullptr};
  Normalizer normalizer;
  std::unique_ptr<Tokenizer> tokenizer;
};

void save_checkpoint(const std::string& dir, const Config& config, VLAImpl& model,
                     const Normalizer& normalizer, const Tokenizer& tokenizer);

// strict: every file must exist and every tensor must match the config's shapes.
Checkpoint load_checkpoint(const std::string& dir);

// train_state.safetensors: optimizer tensors, "weights.<name>" (the raw weights when
// model.safetensors holds their ema), "rng_state" (uint8), metadata step, elapsed_s, world_size.
struct TrainState {
  TensorMap tensors;  // optimizer moments, "weights.<name>" when saved with ema; not rng_state
  torch::Tensor rng_state;
  int64_t step = 0;
  double elapsed_s = 0;  // training time of the run so far (for --time-limit schedules)
  int world_size = 1;    // data-parallel ranks that wrote it (any world size may resume it)
};
void save_train_state(const std::string& dir, const TrainState& state);
TrainState load_train_state(const std::string& dir);

}  // namespace avla
