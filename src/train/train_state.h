// the trainer's part of a run directory: train_state.safetensors beside the policy checkpoint,
// with the optimizer moments, the generator state, the step and the run's clock, so that
// --resume continues to the same numbers. written after the policy files.
#pragma once

#include <torch/torch.h>

#include <string>

#include "io/tensor_file.h"

namespace avla {

// train_state.safetensors: optimizer tensors, "weights.<name>" (the trained weights),
// "ema.<name>" (their ema, when the run keeps one), "rng_state" (uint8), metadata step,
// elapsed_s, world_size. a resume reads this file alone.
struct TrainState {
  TensorMap tensors;  // optimizer moments, "weights.<name>", "ema.<name>"; not rng_state
  torch::Tensor rng_state;
  int64_t step = 0;
  double elapsed_s = 0;  // training time of the run so far (for --time-limit schedules)
  int world_size = 1;    // data-parallel ranks that wrote it (any world size may resume it)
};
void save_train_state(const std::string& dir, const TrainState& state);
TrainState load_train_state(const std::string& dir);

}  // namespace avla
