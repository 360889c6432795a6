#include "data/oxe_datasets.h"

#include <cmath>
#include <cstring>

#include "io/image_decode.h"
#include "util/error.h"

namespace avla {

const std::vector<OxeDataset>& oxe_datasets() {
  static const std::vector<OxeDataset> datasets = [] {
    std::vector<OxeDataset> d;
    // Bridge-V2 as the Bridge project releases it in RLDS (OXE mixture name "bridge_orig"):
    // image_0 is the over-the-shoulder camera, state is [x y z roll pitch yaw gripper], action
    // is [dx dy dz droll dpitch dyaw gripper] with a continuous gripper command
    OxeDataset bridge;
    bridge.name = "bridge_dataset";
    bridge.camera_keys = {"steps/observation/image_0"};
    bridge.state_key = "steps/observation/state";
    bridge.rotation = OxeRotation::EulerXYZ;
    bridge.action_keys = {"steps/action"};
    bridge.gripper = OxeGripper::AbsoluteOpen;
    bridge.instruction_key = "steps/language_instruction";
    d.push_back(bridge);
    // Fractal (RT-1, "fractal20220817_data"): one head camera, the tool pose as position and
    // quaternion, gripper_closed, and actions split into world_vector, rotation_delta and a
    // relative gripper_closedness_action
    OxeDataset fractal;
    fractal.name = "fractal20220817_data";
    fractal.camera_keys = {"steps/observation/image"};
    fractal.state_key = "steps/observation/base_pose_tool_reached";
    fractal.rotation = OxeRotation::QuatXYZW;
    fractal.gripper_state_key = "steps/observation/gripper_closed";
    fractal.gripper_state_closed = true;
    fractal.action_keys = {"steps/action/world_vector", "steps/action/rotation_delta",
                           "steps/action/gripper_closedness_action"};
    fractal.gripper = OxeGripper::RelativeClose;
    fractal.instruction_key = "steps/observation/natural_language_instruction";
    d.push_back(fractal);
    return d;
  }();
  return datasets;
}

const OxeDataset& oxe_dataset(const std::string& name, const std::string& where) {
  std::string known;
  for (const auto& d : oxe_datasets()) {
    if (d.name == name) return d;
    known += (known.empty() ? "" : ", ") + d.name;
  }
  fail("rlds", "{}: no key mapping for dataset '{}' (known: {})", where, name, known);
}

std::vector<double> binarize_gripper(const std::vector<double>& command) {
  std::vector<double> out(command.size());
  if (command.empty()) return out;
  // past the last decided value: the last raw value rounded at 0.5 (Octo's transform keeps it
  // raw, which left a gripper action between -1 and +1; found by fuzzing rlds_episode)
  double next = command.back() >= 0.5 ? 1.0 : 0.0;
  for (size_t i = command.size(); i-- > 0;) {
    if (command[i] > 0.95) next = 1.0;
    if (command[i] < 0.05) next = 0.0;
    out[i] = next;
  }
  return out;
}

std::vector<double> integrate_relative_gripper(const std::vector<double>& command) {
  // -1 close, +1 open, 0 keep (the command's sign is the other way round)
  std::vector<int> step(command.size());
  int first = 0;
  for (size_t i = 0; i < command.size(); ++i) {
    step[i] = command[i] < -0.1 ? 1 : (command[i] > 0.1 ? -1 : 0);
    if (first == 0) first = step[i];
  }
  int state = first == 0 ? 1 : -first;
  std::vector<double> out(command.size());
  for (size_t i = 0; i < command.size(); ++i) {
    if (step[i] != 0) state = step[i];
    out[i] = state > 0 ? 1.0 : 0.0;
  }
  return out;
}

namespace {

std::array<double, 3> quat_to_axis_angle(double x, double y, double z, double w) {
  const double n = std::sqrt(x * x + y * y + z * z + w * w);
  AVLA_CHECK(n > 1e-9 && std::isfinite(n), "rlds", "a quaternion of norm {}", n);
  x /= n, y /= n, z /= n, w /= n;
  if (w < 0) x = -x, y = -y, z = -z, w = -w;  // the angle in [0, pi]
  const double s = std::sqrt(x * x + y * y + z * z);
  if (s < 1e-12) return {0.0, 0.0, 0.0};
  const double angle = 2.0 * std::atan2(s, w);
  return {angle * x / s, angle * y / s, angle * z / s};
}

}  // namespace

std::array<double, 3> quat_xyzw_to_axis_angle(double x, double y, double z, double w) {
  return quat_to_axis_angle(x, y, z, w);
}

std::array<double, 3> euler_xyz_to_axis_angle(double roll, double pitch, double yaw) {
  // R = Rz(yaw) Ry(pitch) Rx(roll) as one quaternion: qz * qy * qx
  const double cr = std::cos(roll / 2), sr = std::sin(roll / 2);
  const double cp = std::cos(pitch / 2), sp = std::sin(pitch / 2);
  const double cy = std::cos(yaw / 2), sy = std::sin(yaw / 2);
  const double w = cy * cp * cr + sy * sp * sr;
  const double x = cy * cp * sr - sy * sp * cr;
  const double y = cy * sp * cr + sy * cp * sr;
  const double z = sy * cp * cr - cy * sp * sr;
  return quat_to_axis_angle(x, y, z, w);
}

namespace {

// (n_steps, width) of a numeric step feature
std::vector<double> step_numbers(const RldsInfo& info, const RldsEpisode& ep,
                                 const std::string& key, int64_t* width) {
  std::vector<double> v = ep.numbers(info, key);
  *width = info.feature(key).numel();
  for (double x : v) {
    AVLA_CHECK(std::isfinite(x), "rlds", "{}: feature '{}' has NaN or Inf", ep.where, key);
  }
  return v;
}

}  // namespace

OxeEpisode map_oxe_episode(const OxeDataset& d, const RldsInfo& info, const RldsEpisode& ep) {
  const int64_t T = ep.n_steps;
  AVLA_CHECK(T > 0, "rlds", "{}: an episode with no steps", ep.where);
  OxeEpisode out;
  // cameras: every step's image decoded, all of one size
  for (const auto& key : d.camera_keys) {
    const auto& frames = ep.bytes(info, key);
    torch::Tensor cam;
    for (int64_t t = 0; t < T; ++t) {
      DecodedImage img = decode_image(frames[t], fmt::format("{}: {} step {}", ep.where, key, t));
      if (t == 0) cam = torch::empty({T, img.height, img.width, 3}, torch::kUInt8);
      AVLA_CHECK(img.height == cam.size(1) && img.width == cam.size(2), "rlds",
                 "{}: {} step {} is {}x{}, step 0 is {}x{}", ep.where, key, t, img.width,
                 img.height, cam.size(2), cam.size(1));
      std::memcpy(cam[t].data_ptr<uint8_t>(), img.rgb.data(), img.rgb.size());
    }
    out.cameras.push_back(cam);
  }
  // raw state: position, axis-angle, the gripper opening twice
  int64_t width = 0;
  const std::vector<double> pose = step_numbers(info, ep, d.state_key, &width);
  const int64_t want = d.rotation == OxeRotation::EulerXYZ ? 6 : 7;
  const int64_t pose_width = d.gripper_state_key.empty() ? want + 1 : want;
  AVLA_CHECK(width >= pose_width, "rlds",
             "{}: '{}' has {} values per step, the mapping of {} needs {}", ep.where, d.state_key,
             width, d.name, pose_width);
  std::vector<double> grip;
  int64_t grip_width = 0;
  if (!d.gripper_state_key.empty()) {
    grip = step_numbers(info, ep, d.gripper_state_key, &grip_width);
  }
  out.raw_state = torch::empty({T, 8}, torch::kFloat64);
  auto s = out.raw_state.accessor<double, 2>();
  for (int64_t t = 0; t < T; ++t) {
    const double* p = pose.data() + t * width;
    const std::array<double, 3> aa = d.rotation == OxeRotation::EulerXYZ
                                         ? euler_xyz_to_axis_angle(p[3], p[4], p[5])
                                         : quat_xyzw_to_axis_angle(p[3], p[4], p[5], p[6]);
    double g = d.gripper_state_key.empty() ? p[width - 1] : grip[t * grip_width];
    if (d.gripper_state_closed) g = 1.0 - g;
    for (int i = 0; i < 3; ++i) s[t][i] = p[i], s[t][3 + i] = aa[i];
    s[t][6] = g, s[t][7] = g;
  }
  // actions: the keys' columns side by side, then the gripper column in our convention
  std::vector<std::vector<double>> parts;
  std::vector<int64_t> widths;
  int64_t total = 0;
  for (const auto& key : d.action_keys) {
    int64_t w = 0;
    parts.push_back(step_numbers(info, ep, key, &w));
    widths.push_back(w);
    total += w;
  }
  AVLA_CHECK(total == 7, "rlds", "{}: the action keys of {} give {} values per step, expected 7",
             ep.where, d.name, total);
  out.actions = torch::empty({T, 7}, torch::kFloat64);
  auto a = out.actions.accessor<double, 2>();
  std::vector<double> gripper(T);
  for (int64_t t = 0; t < T; ++t) {
    int64_t col = 0;
    for (size_t k = 0; k < parts.size(); ++k) {
      for (int64_t j = 0; j < widths[k]; ++j, ++col) {
        const double v = parts[k][t * widths[k] + j];
        if (col < 6)
          a[t][col] = v;
        else
          gripper[t] = v;
      }
    }
  }
  const std::vector<double> open = d.gripper == OxeGripper::AbsoluteOpen
                                       ? binarize_gripper(gripper)
                                       : integrate_relative_gripper(gripper);
  for (int64_t t = 0; t < T; ++t) a[t][6] = 1.0 - 2.0 * open[t];
  // the instruction: the first non-empty step's
  for (const auto& text : ep.bytes(info, d.instruction_key)) {
    if (!text.empty()) {
      out.instruction = text;
      break;
    }
  }
  return out;
}

}  // namespace avla
