// per-dimension normalization statistics (mean/std and 1st/99th percentiles), saved with the
// checkpoint as norm_stats.json. state uses mean/std; actions use the quantile map
// [q01, q99] -> [-1, 1] (openpi's convention for LIBERO-style bounded actions).
#pragma once

#include <torch/torch.h>

#include <string>

namespace avla {

enum class NormMode { MeanStd, Quantile };

struct NormStats {
  NormMode mode = NormMode::MeanStd;
  torch::Tensor mean, std, q01, q99;  // (dim) float32

  // values (N, dim). min_scale: std (mean_std) below it is raised to it, so a (near-)constant
  // dimension divides by min_scale instead of ~0; a quantile range q99 - q01 (quantile) below
  // it is widened to it around its midpoint. 0 keeps the raw std and range.
  static NormStats compute(const torch::Tensor& values, NormMode mode, double min_scale = 0.0);
  torch::Tensor normalize(const torch::Tensor& x) const;    // (..., dim)
  torch::Tensor unnormalize(const torch::Tensor& x) const;  // (..., dim)
  int64_t dim() const { return mean.size(0); }
};

struct Normalizer {
  NormStats state;
  NormStats actions;

  void save(const std::string& path) const;  // atomic json
  static Normalizer load(const std::string& path);
};

}  // namespace avla
