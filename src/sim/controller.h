// the arm controller: LIBERO's 7-D delta action -> an end-effector goal pose (previous goal +
// delta, kept near the measured pose) -> joint position targets by damped-least-squares IK
// (mj_jacSite) with a null-space pull toward the home posture; position servos track the targets
// while the controller compensates gravity.
#pragma once

#include <array>
#include <memory>

#include "sim/physics.h"

namespace avla::sim {

using Action = std::array<double, 7>;  // [dx, dy, dz, dax, day, daz, gripper], each in [-1, 1]
using ArmQ = std::array<double, 7>;

struct ControllerConfig {
  double max_translation = 0.05;  // metres per control step at |a| = 1
  double max_rotation = 0.5;      // radians per control step at |a| = 1
  double control_hz = 20.0;
  double ik_damping = 0.03;  // lambda of the damped least squares
  int ik_iterations = 3;
  double null_gain = 0.2;  // pull toward the home posture in the null space
  // the goal pose integrates the deltas (so motion matches the command even while the servos
  // lag) but never runs further than this from the measured pose (no wind-up when blocked)
  double max_goal_lead = 0.03;     // metres
  double max_goal_lead_rot = 0.3;  // radians
};

class ArmController {
 public:
  explicit ArmController(Physics& physics, ControllerConfig config = {});
  ~ArmController();

  const ControllerConfig& config() const { return config_; }
  int substeps() const { return substeps_; }

  // puts the arm at the IK solution for a downward gripper at home_pos, gripper open, at rest
  void reset_to_home(const Vec3& home_pos);
  // puts the arm at rest at the IK solution for grip (from the home posture; the pose reached may
  // differ where grip is out of reach) with both fingers finger metres open; the home posture
  // (null-space target) stays. for the vision corpus's random arm poses
  void reset_to(const Pose& grip, double finger);
  // servo targets for one (already clipped) action
  void apply(const Action& action);
  // one control period of physics with gravity compensation
  void step();

  Pose grip_pose() const;  // pose of the grip site (between the finger pads)
  ArmQ arm_qpos() const;
  std::array<double, 2> finger_qpos() const;

  // damped-least-squares IK from q_start toward goal; returns joint angles clamped to the ranges
  ArmQ solve_ik(const Pose& goal, const ArmQ& q_start, int iterations) const;

 private:
  void place_arm(const ArmQ& q, double finger);  // at rest, servos holding q and finger

  Physics& physics_;
  ControllerConfig config_;
  int substeps_;
  int site_;
  std::array<int, 7> arm_qpos_adr_{}, arm_dof_adr_{}, arm_actuator_{};
  std::array<int, 2> finger_qpos_adr_{}, finger_dof_adr_{}, finger_actuator_{};
  std::array<std::array<double, 2>, 7> range_{};
  ArmQ home_q_{};
  Pose goal_{};                // integrated end-effector goal
  mjData* scratch_ = nullptr;  // for IK forward kinematics, never stepped
};

// orientation of a downward-pointing gripper rotated by yaw about world z
Quat gripper_down_quat(double yaw);
// rotation vector (axis * angle, world frame) taking quaternion from to quaternion to
Vec3 rotation_error(const Quat& to, const Quat& from);

}  // namespace avla::sim
