// the robot state the model sees, computed from the raw LIBERO state by one function that the
// dataset, the policy (and so eval and any server) all call.
//   raw (8):      ee position (3) | ee orientation as axis-angle (3) | finger positions (2)
//   features (11): ee position (3) | first two columns of the ee rotation matrix (6) | fingers (2)
// axis-angle has a branch cut at angle pi, and a gripper pointing down sits exactly there (every
// yaw of the down pose is a half turn): a sub-degree tilt flips the vector from +pi*axis to
// -pi*axis. two rotation-matrix columns (the continuous 6-d representation) have no cut anywhere,
// and a small rotation by e moves them by about e.
#pragma once

#include <torch/torch.h>

#include <array>

namespace avla {

constexpr int raw_state_dim = 8;
constexpr int state_feature_dim = 11;

// one state: raw (8) -> features (11)
std::array<double, state_feature_dim> state_features(const std::array<double, raw_state_dim>& raw);

// a table: (..., 8) any float dtype -> (..., 11) float32. errors name the shape.
torch::Tensor state_features(const torch::Tensor& raw);

}  // namespace avla
