#include "data/normalizer.h"

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/json_file.h"
#include "util/error.h"

namespace avla {

namespace {

constexpr const char* kNormalizerComponent = "normalizer";
constexpr double kEps = 1e-6;

std::vector<double> to_vec(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

nlohmann::json stats_json(const NormStats& s) {
  return {{"mode", s.mode == NormMode::MeanStd ? "mean_std" : "quantile"},
          {"mean", to_vec(s.mean)},
          {"std", to_vec(s.std)},
          {"q01", to_vec(s.q01)},
          {"q99", to_vec(s.q99)}};
}

NormStats stats_from_json(const nlohmann::json& j, const std::string& path,
                          const std::string& key) {
  AVLA_CHECK(j.contains(key) && j[key].is_object(), kNormalizerComponent, "{}: missing object '{}'",
             path, key);
  const auto& o = j[key];
  NormStats s;
  std::string mode = o.value("mode", "");
  AVLA_CHECK(mode == "mean_std" || mode == "quantile", kNormalizerComponent,
             "{}: '{}.mode' is '{}', expected mean_std or quantile", path, key, mode);
  s.mode = mode == "mean_std" ? NormMode::MeanStd : NormMode::Quantile;
  int64_t dim = -1;
  auto field = [&](const char* name) {
    AVLA_CHECK(o.contains(name) && o[name].is_array(), kNormalizerComponent,
               "{}: missing array '{}.{}'", path, key, name);
    std::vector<double> v;
    try {
      v = o[name].get<std::vector<double>>();
    } catch (const nlohmann::json::exception&) {
      fail(kNormalizerComponent, "{}: '{}.{}' must hold numbers", path, key, name);
    }
    if (dim < 0) dim = static_cast<int64_t>(v.size());
    AVLA_CHECK(static_cast<int64_t>(v.size()) == dim, kNormalizerComponent,
               "{}: '{}.{}' has {} values, expected {}", path, key, name, v.size(), dim);
    return torch::tensor(v, torch::kFloat64).to(torch::kFloat32);
  };
  s.mean = field("mean");
  s.std = field("std");
  s.q01 = field("q01");
  s.q99 = field("q99");
  return s;
}

}  // namespace

NormStats NormStats::compute(const torch::Tensor& values, NormMode mode, double min_scale) {
  AVLA_CHECK(values.dim() == 2 && values.size(0) > 0, kNormalizerComponent,
             "statistics need (N, dim) values with N > 0, found {}", c10::str(values.sizes()));
  torch::Tensor v = values.to(torch::kFloat64);
  NormStats s;
  s.mode = mode;
  s.mean = v.mean(0).to(torch::kFloat32);
  s.std = v.std(0, /*unbiased=*/false);
  if (mode == NormMode::MeanStd) s.std = s.std.clamp_min(min_scale);
  s.std = s.std.to(torch::kFloat32);
  // exact quantiles by sorting each column
  torch::Tensor sorted = std::get<0>(v.sort(0));
  const int64_t n = v.size(0);
  auto at = [&](double q) {
    int64_t i = std::min<int64_t>(n - 1, static_cast<int64_t>(q * (n - 1) + 0.5));
    return sorted[i].to(torch::kFloat32);
  };
  s.q01 = at(0.01);
  s.q99 = at(0.99);
  if (mode == NormMode::Quantile && min_scale > 0) {
    // widen a range narrower than min_scale around its midpoint
    const torch::Tensor mid = (s.q01 + s.q99) / 2;
    const torch::Tensor half = ((s.q99 - s.q01) / 2).clamp_min(min_scale / 2);
    s.q01 = mid - half;
    s.q99 = mid + half;
  }
  return s;
}

torch::Tensor NormStats::normalize(const torch::Tensor& x) const {
  AVLA_CHECK(x.size(-1) == dim(), kNormalizerComponent, "input has {} dims, statistics have {}",
             x.size(-1), dim());
  if (mode == NormMode::MeanStd) return (x - mean) / (std + kEps);
  return (x - q01) / (q99 - q01 + kEps) * 2.0 - 1.0;
}

torch::Tensor NormStats::unnormalize(const torch::Tensor& x) const {
  AVLA_CHECK(x.size(-1) == dim(), kNormalizerComponent, "input has {} dims, statistics have {}",
             x.size(-1), dim());
  if (mode == NormMode::MeanStd) return x * (std + kEps) + mean;
  return (x + 1.0) / 2.0 * (q99 - q01 + kEps) + q01;
}

void Normalizer::save(const std::string& path) const {
  nlohmann::json j = {{"state", stats_json(state)}, {"actions", stats_json(actions)}};
  write_file_atomic(path, j.dump(1) + "\n");
}

Normalizer Normalizer::load(const std::string& path) {
  nlohmann::json j = read_json_file(path, kNormalizerComponent);
  return {stats_from_json(j, path, "state"), stats_from_json(j, path, "actions")};
}

}  // namespace avla
