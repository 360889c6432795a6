// the Open X-Embodiment datasets we train on, mapped from their RLDS keys into the LIBERO layout
// our dataset and observation module read (docs/FORMATS.md, "RLDS"). one entry per dataset, by the
// TFDS name in its dataset_info.json; each says which camera, state, action and instruction keys
// it reads and how its conventions become ours:
//   actions (T, 7): [dx, dy, dz, droll, dpitch, dyaw, gripper] with gripper -1 open, +1 closed
//     (LIBERO's sign; OXE's mixture uses 1 open, 0 closed, and we take its absolute value the way
//     the mixture derives it: bridge binarizes, fractal integrates relative commands)
//   raw state (T, 8): ee position (3) | ee orientation as axis-angle (3) | gripper opening twice
//     (our simulator's two fingers), so data/state_features turns it into the model's features
#pragma once

#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

#include "data/rlds.h"

namespace avla {

enum class OxeRotation { EulerXYZ, QuatXYZW };
enum class OxeGripper { AbsoluteOpen, RelativeClose };

struct OxeDataset {
  std::string name;                      // the TFDS name: "bridge_dataset", ...
  std::vector<std::string> camera_keys;  // the policy's cameras, in order
  // state: position and orientation from one key, the gripper opening from another (or the last
  // column of the same key)
  std::string state_key;
  OxeRotation rotation = OxeRotation::EulerXYZ;
  std::string gripper_state_key;      // empty: the state key's last column
  bool gripper_state_closed = false;  // the gripper key says closedness, not opening
  // actions: the concatenated keys give 6 movement columns and 1 gripper column
  std::vector<std::string> action_keys;
  OxeGripper gripper = OxeGripper::AbsoluteOpen;
  std::string instruction_key;
};

// the known datasets; an unknown name is an error listing them
const std::vector<OxeDataset>& oxe_datasets();
const OxeDataset& oxe_dataset(const std::string& name, const std::string& where);

// one episode in our layout
struct OxeEpisode {
  std::vector<torch::Tensor> cameras;  // per camera (T, H, W, 3) uint8
  torch::Tensor raw_state;             // (T, 8) float64
  torch::Tensor actions;               // (T, 7) float64
  std::string instruction;             // empty when the episode has none
};

OxeEpisode map_oxe_episode(const OxeDataset& dataset, const RldsInfo& info,
                           const RldsEpisode& episode);

// OXE's absolute gripper (1 open, 0 closed) from bridge's continuous command: above 0.95 open,
// below 0.05 closed, between those the next decided value (at the end, the last value rounded at
// 0.5, so that every value is 0 or 1)
std::vector<double> binarize_gripper(const std::vector<double>& command);
// OXE's absolute gripper from a relative command (+1 close, -1 open, 0 keep; |x| <= 0.1 is 0):
// each step holds the last command; before the first, the opposite of the first (open if none)
std::vector<double> integrate_relative_gripper(const std::vector<double>& command);

// rotations to axis-angle (rx, ry, rz) = angle * axis, angle in [0, pi]
std::array<double, 3> euler_xyz_to_axis_angle(double roll, double pitch, double yaw);
std::array<double, 3> quat_xyzw_to_axis_angle(double x, double y, double z, double w);

}  // namespace avla
