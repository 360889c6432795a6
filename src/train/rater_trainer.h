// rater training (paper §3.3, eq. 6): the backbone is frozen; sfm chunks of training observations
// are compared with the ground truth per token, turned into confidence labels, and the rater
// regresses them (mse). writes rater.json + rater.safetensors into the checkpoint atomically.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/normalizer.h"
#include "model/rater.h"
#include "train/distributed.h"

namespace avla {

// token errors (e_l) in the label space: flow/chunk_error.h

// eq. 6 per sample over its valid tokens:
//   q_l = 1 - alpha - beta * (e_l - min e) / (max e - min e + eps)
// errors (B, L), valid (B, L) bool or float; invalid tokens get label 1 - alpha (unused).
torch::Tensor confidence_labels(const torch::Tensor& errors, const torch::Tensor& valid,
                                double alpha, double beta, double eps);

struct RaterTrainOptions {
  std::string ckpt;               // a trained policy checkpoint (read-only but for rater files)
  std::vector<std::string> data;  // files or directories
  RaterConfig rater;              // architecture + alpha, beta, eps
  int steps = 400;
  int batch = 32;
  double lr = 1e-3;
  uint64_t seed = 0;
  int log_every = 20;
  DistConfig dist;                     // this process's rank (world 1: not distributed)
  torch::Device device = torch::kCPU;  // where the frozen policy and the rater run
};

struct RaterTrainResult {
  double first_loss = 0, final_loss = 0;
  int steps_done = 0;
};

RaterTrainResult train_rater(const RaterTrainOptions& options);

}  // namespace avla
