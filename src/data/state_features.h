// the robot state the model sees, computed from the raw LIBERO state by one function that the
// dataset, the policy (and so eval and any server) all call.
//   raw (8):      ee position (3) | ee orientation as axis-angle (3) | finger positions (2)
//   features (11): ee position (3) | first two columns of the ee rotation matrix (6) | fingers (2)
// axis-angle has a branch cut at angle pi, and a gripper pointing down sits exactly there (every
// yaw of the down pose is a half turn): a sub-degree tilt flips the vector from +pi*axis to
// -pi*axis. two rotation-matrix columns (the continuous 6-d representation) have no cut anywhere,
// and a small rotation by e moves them by about e.
//
// privileged state (a diagnostic: what the action head can do without vision, docs/EXPERIMENTS.md):
// object_state_dim more numbers from the simulator (data/object_state.h), appended to the raw state
// and passed through to the features unchanged. `sim collect` writes them as obs/object_states; a
// checkpoint trained with `train --privileged-state` has model.state_dim = state_feature_dim +
// object_state_dim.
#pragma once

#include <torch/torch.h>

#include <array>
#include <string>

#include "data/object_state.h"

namespace avla {

constexpr int raw_state_dim = 8;
constexpr int state_feature_dim = 11;

// the privileged dims a model with this state_dim takes: 0 or object_state_dim; others are errors
int privileged_dims(int state_dim);

// what feature i is, for error messages: "ee position z", "ee rotation column 1 y", "finger 0",
// "object state 4"
std::string state_feature_name(int i);

// one state: raw (8) -> features (11)
std::array<double, state_feature_dim> state_features(const std::array<double, raw_state_dim>& raw);

// a table: (..., 8 [+ object_state_dim]) any float dtype -> (..., 11 [+ object_state_dim]) float32;
// the privileged columns pass through. errors name the shape.
torch::Tensor state_features(const torch::Tensor& raw);

}  // namespace avla
