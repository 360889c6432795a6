// rater quality on held-out demonstrations: does low confidence find the bad first-round tokens,
// and does regenerating them (afm) bring the chunk closer to the ground truth?
#pragma once

#include <c10/core/Device.h>

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/precision.h"

namespace avla {

struct RaterQualityOptions {
  std::string ckpt;
  std::vector<std::string> data;  // held-out files or directories
  int frames = 256;               // frames sampled (seeded) from the data
  int batch = 32;
  double top_fraction = 0.2;  // the top 20 % error tokens of a chunk's rated window are positives
  double threshold = 0.5;     // async mask for the afm comparison
  double random_mask_prob = 0.5;          // the random baseline's share of the rater's window
  std::optional<int> n_steps;             // flow steps of both rounds (unset: the checkpoint's)
  c10::Device device{c10::kCPU};          // where the policy runs
  Precision precision = Precision::Fp32;  // and what its cpu kernels compute in
  // the executed window: the chunk's first tokens (unset: half, as eval)
  std::optional<int> replan;
  uint64_t seed = 0;
  std::string error_space;  // normalized or action; empty: the rater's label space
};

struct RaterQuality {
  int frames = 0;
  std::string error_space;  // where the errors below are measured
  int window = 0;  // the rater's window: auroc, masks and the random half cover tokens [0, window)
  double auroc = 0.5;               // of (1 - confidence) for the top-error tokens
  double sfm_error = 0;             // mean per-token squared error (error_space), valid tokens
  double async_error = 0;           // after afm on tokens with confidence < threshold
  double random_error = 0;          // after afm on a random half of the tokens (baseline)
  double regenerated_fraction = 0;  // of tokens under async
  double mean_confidence = 0;
  // the same per chunk position l = 0 .. L-1 (error and regenerated share over valid tokens)
  std::vector<double> sfm_error_by_pos, async_error_by_pos, random_error_by_pos;
  std::vector<double> regenerated_by_pos;
  // the same over the executed window only: closed loop runs these tokens and drops the rest
  int executed = 0;
  double sfm_error_executed = 0, async_error_executed = 0, random_error_executed = 0;
  double regenerated_executed = 0;
};

RaterQuality evaluate_rater(const RaterQualityOptions& options);
nlohmann::json to_json(const RaterQuality& q);

}  // namespace avla
