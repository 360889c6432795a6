// unified sfm + afm training (paper alg. 2): per sample y ~ U(0,1), m ~ Bernoulli(y), tau ~
// Beta(1.5, 1), noise n; loss eq. 4 over masked, valid elements. adamw, warm-up + cosine,
// clipping, a lower vision learning rate, optional bf16 autocast, atomic checkpoints, exact resume.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "data/chunk_sampler.h"
#include "flow/unified_loss.h"
#include "model/config.h"
#include "train/distributed.h"

namespace avla {

struct TrainOptions {
  std::vector<std::string> data;  // load_dataset inputs: hdf5 files or dirs, RLDS dirs, [:WEIGHT]
  Config config;
  std::string out_dir;
  bool resume = false;
  // the config fields the command line set ("train.lr", "model.vision_stem"; --config sets them
  // all but model.n_cam, which only --cameras sets: else the cameras follow the data). a resume
  // takes the run's saved config; a given field that differs from it is an error naming both
  // values, except train.steps and train.time_limit_s, which extend the run
  std::set<std::string> given;
  int stop_after = 0;    // > 0: stop (with a checkpoint) after this step of this run
  DistConfig dist;       // this process's rank (world 1: not distributed)
  bool prefetch = true;  // assemble the next batch on a worker thread (the same batches)
  // where the weights, their average, the optimizer state and every step's tensors live. batches
  // and random draws are made on the cpu (the same ones on every device) and moved there
  torch::Device device = torch::kCPU;
};

struct TrainResult {
  int64_t steps_done = 0;
  double final_loss = 0.0;  // mean loss over the last log interval
};

TrainResult train(const TrainOptions& options);

// the config a resume of the run in out continues with: its saved config.json, with train.steps
// and train.time_limit_s from given_config where given names them; any other given field that
// differs from the run's is an error naming the field and both values
Config resumed_config(const std::string& out, const Config& given_config,
                      const std::set<std::string>& given);

}  // namespace avla
