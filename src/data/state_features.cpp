#include "data/state_features.h"

#include <cmath>

#include "util/error.h"

namespace avla {

std::array<double, state_feature_dim> state_features(const std::array<double, raw_state_dim>& raw) {
  // axis-angle -> unit axis k and angle a; rodrigues: R = I + sin(a) K + (1 - cos(a)) K^2
  const double rx = raw[3], ry = raw[4], rz = raw[5];
  const double angle = std::sqrt(rx * rx + ry * ry + rz * rz);
  double R[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  if (angle > 1e-12) {
    const double k[3] = {rx / angle, ry / angle, rz / angle};
    const double s = std::sin(angle), c1 = 1.0 - std::cos(angle);
    const double K[3][3] = {{0, -k[2], k[1]}, {k[2], 0, -k[0]}, {-k[1], k[0], 0}};
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) {
        double kk = 0;
        for (int m = 0; m < 3; ++m) kk += K[i][m] * K[m][j];
        R[i][j] += s * K[i][j] + c1 * kk;
      }
    }
  }
  return {raw[0],  raw[1],  raw[2],   // position
          R[0][0], R[1][0], R[2][0],  // column 0
          R[0][1], R[1][1], R[2][1],  // column 1
          raw[6],  raw[7]};           // fingers
}

std::string state_feature_name(int i) {
  static const char* xyz[3] = {"x", "y", "z"};
  if (i >= 0 && i < 3) return std::string("ee position ") + xyz[i];
  if (i >= 3 && i < 9)
    return "ee rotation column " + std::to_string((i - 3) / 3) + " " + xyz[(i - 3) % 3];
  if (i >= 9 && i < state_feature_dim) return "finger " + std::to_string(i - 9);
  return "object state " + std::to_string(i - state_feature_dim);
}

int privileged_dims(int state_dim) {
  AVLA_CHECK(state_dim == state_feature_dim || state_dim == state_feature_dim + object_state_dim,
             "state",
             "model.state_dim is {}, expected {} (robot state) or {} (robot state + {} privileged "
             "object dims; 36 is a privileged checkpoint from before the yaw columns)",
             state_dim, state_feature_dim, state_feature_dim + object_state_dim, object_state_dim);
  return state_dim - state_feature_dim;
}

torch::Tensor state_features(const torch::Tensor& raw) {
  const int64_t width = raw.defined() && raw.dim() >= 1 ? raw.size(-1) : -1;
  AVLA_CHECK(width == raw_state_dim || width == raw_state_dim + object_state_dim, "state",
             "raw state has shape {}, expected [..., {}] (ee pos 3, ee axis-angle 3, fingers 2) or "
             "[..., {}] (+ {} privileged object dims)",
             raw.defined() ? c10::str(raw.sizes()) : "undefined", raw_state_dim,
             raw_state_dim + object_state_dim, object_state_dim);
  AVLA_CHECK(raw.is_floating_point(), "state", "raw state has dtype {}, expected a float type",
             c10::toString(raw.scalar_type()));
  const int64_t extra = width - raw_state_dim, out_width = state_feature_dim + extra;
  torch::Tensor rows = raw.to(torch::kFloat64).reshape({-1, width}).contiguous();
  const int64_t n = rows.size(0);
  torch::Tensor out = torch::empty({n, out_width}, torch::kFloat64);
  const double* src = rows.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) {
    std::array<double, raw_state_dim> r;
    std::copy(src + i * width, src + i * width + raw_state_dim, r.begin());
    const auto f = state_features(r);
    std::copy(f.begin(), f.end(), dst + i * out_width);
    // privileged columns as they are
    std::copy(src + i * width + raw_state_dim, src + (i + 1) * width,
              dst + i * out_width + state_feature_dim);
  }
  std::vector<int64_t> shape(raw.sizes().begin(), raw.sizes().end());
  shape.back() = out_width;
  return out.view(shape).to(torch::kFloat32);
}

}  // namespace avla
