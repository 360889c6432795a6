// unified sfm + afm training (paper alg. 2): per sample y ~ U(0,1), m ~ Bernoulli(y), tau ~
// Beta(1.5, 1), noise n; loss eq. 4 over masked, valid elements. adamw, warm-up + cosine,
// clipping, a lower vision learning rate, optional bf16 autocast, atomic checkpoints, exact resume.
#pragma once

#include <string>
#include <vector>

#include "data/chunk_sampler.h"
#include "model/config.h"

namespace avla {

struct TrainOptions {
  std::vector<std::string> data;  // files or directories of LIBERO-layout hdf5
  Config config;
  std::string out_dir;
  bool resume = false;
  int stop_after = 0;         // > 0: stop (with a checkpoint) after this step of this run
  double time_limit_s = 0.0;  // > 0: stop (with a checkpoint) once training took this long
};

struct TrainResult {
  int64_t steps_done = 0;
  double final_loss = 0.0;  // mean loss over the last log interval
};

TrainResult train(const TrainOptions& options);

// one batch's unified loss (alg. 2): samples tau, masks (all ones when vanilla) and noise from gen,
// runs the forward (in bf16 autocast when bf16), returns eq. 4 over masked, valid elements.
torch::Tensor unified_flow_loss(VLAImpl& model, const TrainBatch& batch, bool vanilla, bool bf16,
                                at::Generator& gen);

}  // namespace avla
