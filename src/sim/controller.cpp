#include "sim/controller.h"

#include <mujoco/mujoco.h>

#include <algorithm>
#include <cmath>

#include "sim/scene.h"
#include "util/error.h"

namespace avla::sim {

namespace {
// a bent elbow, gripper down: the IK starting guess (and null-space pull) for the home posture
constexpr ArmQ home_guess = {0.0, 0.3, 0.0, 1.9, 0.0, 0.94, 0.0};
}  // namespace

Quat gripper_down_quat(double yaw) {
  // R = Rz(yaw) * Ry(pi): the hand's +z (toward the fingertips) points down
  const Quat ry = {0.0, 0.0, 1.0, 0.0};
  const Quat rz = yaw_quat(yaw);
  Quat q;
  mju_mulQuat(q.data(), rz.data(), ry.data());
  return q;
}

Vec3 rotation_error(const Quat& to, const Quat& from) {
  Quat inv, dq;
  mju_negQuat(inv.data(), from.data());
  mju_mulQuat(dq.data(), to.data(), inv.data());
  if (dq[0] < 0) {
    for (double& v : dq) v = -v;  // shortest way round
  }
  Vec3 err;
  mju_quat2Vel(err.data(), dq.data(), 1.0);
  return err;
}

ArmController::ArmController(Physics& physics, ControllerConfig config)
    : physics_(physics), config_(config) {
  const mjModel* m = physics_.model();
  substeps_ = static_cast<int>(std::lround(1.0 / (config_.control_hz * m->opt.timestep)));
  AVLA_CHECK(substeps_ >= 1, "sim", "control rate {} Hz is faster than the physics step {} s",
             config_.control_hz, m->opt.timestep);
  site_ = physics_.site_id("grip_site");
  for (int j = 0; j < n_arm_joint; ++j) {
    const int id = physics_.joint_id(arm_joint_names()[j]);
    arm_qpos_adr_[j] = m->jnt_qposadr[id];
    arm_dof_adr_[j] = m->jnt_dofadr[id];
    range_[j] = {m->jnt_range[2 * id], m->jnt_range[2 * id + 1]};
    arm_actuator_[j] = mj_name2id(m, mjOBJ_ACTUATOR, (arm_joint_names()[j] + "_servo").c_str());
    AVLA_CHECK(arm_actuator_[j] >= 0, "sim", "no servo for {}", arm_joint_names()[j]);
  }
  for (int f = 0; f < 2; ++f) {
    const int id = physics_.joint_id(finger_joint_names()[f]);
    finger_qpos_adr_[f] = m->jnt_qposadr[id];
    finger_dof_adr_[f] = m->jnt_dofadr[id];
    finger_actuator_[f] =
        mj_name2id(m, mjOBJ_ACTUATOR, (finger_joint_names()[f] + "_servo").c_str());
    AVLA_CHECK(finger_actuator_[f] >= 0, "sim", "no servo for {}", finger_joint_names()[f]);
  }
  scratch_ = mj_makeData(m);
  home_q_ = home_guess;
}

ArmController::~ArmController() {
  if (scratch_) mj_deleteData(scratch_);
}

ArmQ ArmController::solve_ik(const Pose& goal, const ArmQ& q_start, int iterations) const {
  const mjModel* m = physics_.model();
  const int nv = m->nv;
  std::copy(physics_.data()->qpos, physics_.data()->qpos + m->nq, scratch_->qpos);
  ArmQ q = q_start;
  std::vector<double> jacp(3 * nv), jacr(3 * nv);
  for (int it = 0; it < iterations; ++it) {
    for (int j = 0; j < 7; ++j) scratch_->qpos[arm_qpos_adr_[j]] = q[j];
    mj_kinematics(m, scratch_);
    mj_comPos(m, scratch_);
    // 6-D error: position, then rotation vector (world frame)
    double err[6];
    Quat cur;
    mju_mat2Quat(cur.data(), scratch_->site_xmat + 9 * site_);
    for (int i = 0; i < 3; ++i) err[i] = goal.pos[i] - scratch_->site_xpos[3 * site_ + i];
    const Vec3 rot = rotation_error(goal.quat, cur);
    for (int i = 0; i < 3; ++i) err[3 + i] = rot[i];
    // J (6 x 7) restricted to the arm's dofs
    mj_jacSite(m, scratch_, jacp.data(), jacr.data(), site_);
    double jac[6][7];
    for (int j = 0; j < 7; ++j) {
      for (int i = 0; i < 3; ++i) {
        jac[i][j] = jacp[i * nv + arm_dof_adr_[j]];
        jac[3 + i][j] = jacr[i * nv + arm_dof_adr_[j]];
      }
    }
    // A = J J^T + lambda^2 I (6 x 6), factorized once for the step and the null-space projection
    double a[36];
    for (int r = 0; r < 6; ++r) {
      for (int c = 0; c < 6; ++c) {
        double s = 0;
        for (int k = 0; k < 7; ++k) s += jac[r][k] * jac[c][k];
        a[6 * r + c] = s + (r == c ? config_.ik_damping * config_.ik_damping : 0.0);
      }
    }
    mju_cholFactor(a, 6, 1e-10);
    double y[6];
    mju_cholSolve(y, a, err, 6);
    double dq[7];
    for (int k = 0; k < 7; ++k) {
      double s = 0;
      for (int r = 0; r < 6; ++r) s += jac[r][k] * y[r];
      dq[k] = s;
    }
    // null space: (I - J^+ J) * gain * (home - q)
    double pull[7], jp[6], z[6];
    for (int k = 0; k < 7; ++k) pull[k] = config_.null_gain * (home_q_[k] - q[k]);
    for (int r = 0; r < 6; ++r) {
      double s = 0;
      for (int k = 0; k < 7; ++k) s += jac[r][k] * pull[k];
      jp[r] = s;
    }
    mju_cholSolve(z, a, jp, 6);
    for (int k = 0; k < 7; ++k) {
      double s = 0;
      for (int r = 0; r < 6; ++r) s += jac[r][k] * z[r];
      dq[k] += pull[k] - s;
    }
    for (int k = 0; k < 7; ++k) q[k] = std::clamp(q[k] + dq[k], range_[k][0], range_[k][1]);
  }
  return q;
}

void ArmController::reset_to_home(const Vec3& home_pos) {
  const Pose goal{home_pos, gripper_down_quat(0.0)};
  home_q_ = home_guess;
  home_q_ = solve_ik(goal, home_guess, 200);
  place_arm(home_q_, finger_open);
}

void ArmController::reset_to(const Pose& grip, double finger) {
  place_arm(solve_ik(grip, home_q_, 200), std::clamp(finger, 0.0, finger_open));
}

void ArmController::place_arm(const ArmQ& q, double finger) {
  mjData* d = physics_.data();
  for (int j = 0; j < 7; ++j) {
    d->qpos[arm_qpos_adr_[j]] = q[j];
    d->qvel[arm_dof_adr_[j]] = 0.0;
    d->ctrl[arm_actuator_[j]] = q[j];
  }
  for (int f = 0; f < 2; ++f) {
    d->qpos[finger_qpos_adr_[f]] = finger;
    d->qvel[finger_dof_adr_[f]] = 0.0;
    d->ctrl[finger_actuator_[f]] = finger;
  }
  physics_.forward();
  goal_ = grip_pose();
}

void ArmController::apply(const Action& action) {
  const Pose cur = grip_pose();
  // keep the goal within max_goal_lead of the measured pose
  Vec3 lead;
  double lead_norm = 0;
  for (int i = 0; i < 3; ++i) {
    lead[i] = goal_.pos[i] - cur.pos[i];
    lead_norm += lead[i] * lead[i];
  }
  lead_norm = std::sqrt(lead_norm);
  if (lead_norm > config_.max_goal_lead) {
    for (int i = 0; i < 3; ++i)
      goal_.pos[i] = cur.pos[i] + lead[i] * config_.max_goal_lead / lead_norm;
  }
  const Vec3 rot_lead = rotation_error(goal_.quat, cur.quat);
  const double rot_norm =
      std::sqrt(rot_lead[0] * rot_lead[0] + rot_lead[1] * rot_lead[1] + rot_lead[2] * rot_lead[2]);
  if (rot_norm > config_.max_goal_lead_rot) {
    const double axis[3] = {rot_lead[0] / rot_norm, rot_lead[1] / rot_norm, rot_lead[2] / rot_norm};
    Quat back;
    mju_axisAngle2Quat(back.data(), axis, config_.max_goal_lead_rot);
    mju_mulQuat(goal_.quat.data(), back.data(), cur.quat.data());
  }
  Pose goal;
  for (int i = 0; i < 3; ++i) goal.pos[i] = goal_.pos[i] + config_.max_translation * action[i];
  // the rotation delta is applied in the world frame: goal = exp(w) * previous goal
  const double w[3] = {config_.max_rotation * action[3], config_.max_rotation * action[4],
                       config_.max_rotation * action[5]};
  Quat dq;
  const double angle = std::sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
  if (angle < 1e-12) {
    dq = {1, 0, 0, 0};
  } else {
    const double axis[3] = {w[0] / angle, w[1] / angle, w[2] / angle};
    mju_axisAngle2Quat(dq.data(), axis, angle);
  }
  mju_mulQuat(goal.quat.data(), dq.data(), goal_.quat.data());
  mju_normalize4(goal.quat.data());
  goal_ = goal;
  const ArmQ target = solve_ik(goal, arm_qpos(), config_.ik_iterations);
  mjData* d = physics_.data();
  for (int j = 0; j < 7; ++j) d->ctrl[arm_actuator_[j]] = target[j];
  // gripper: -1 open (finger_open each side), +1 closed
  const double finger = finger_open * (1.0 - action[6]) / 2.0;
  for (int f = 0; f < 2; ++f) d->ctrl[finger_actuator_[f]] = finger;
}

void ArmController::step() {
  const mjModel* m = physics_.model();
  mjData* d = physics_.data();
  for (int s = 0; s < substeps_; ++s) {
    // gravity (and Coriolis) compensation on the arm and fingers, from the last forward pass
    for (int j = 0; j < 7; ++j) d->qfrc_applied[arm_dof_adr_[j]] = d->qfrc_bias[arm_dof_adr_[j]];
    for (int f = 0; f < 2; ++f) {
      d->qfrc_applied[finger_dof_adr_[f]] = d->qfrc_bias[finger_dof_adr_[f]];
    }
    mj_step(m, d);
  }
  // keep derived quantities (site poses, contacts) consistent with the new state
  mj_forward(m, d);
}

Pose ArmController::grip_pose() const {
  return physics_.site_pose("grip_site");
}

ArmQ ArmController::arm_qpos() const {
  ArmQ q;
  for (int j = 0; j < 7; ++j) q[j] = physics_.data()->qpos[arm_qpos_adr_[j]];
  return q;
}

std::array<double, 2> ArmController::finger_qpos() const {
  return {physics_.data()->qpos[finger_qpos_adr_[0]], physics_.data()->qpos[finger_qpos_adr_[1]]};
}

}  // namespace avla::sim
