// the closed-loop environment: reset(task, seed) -> observation, step(action) -> observation,
// success, done. deterministic for a seed: same seed, same images and states, byte for byte.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/controller.h"
#include "sim/layout.h"
#include "sim/physics.h"
#include "sim/renderer.h"
#include "sim/tasks.h"

namespace avla::sim {

struct VisualVariant;

struct EnvConfig {
  int image_size = 128;  // both cameras, square
  bool render = true;    // false: observations carry no images (experts, tests)
  ControllerConfig controller;
  int settle_steps = 4;  // control periods with the arm holding still after placing objects
  // a visual variant's name (sim/variants.h): its look and distractors in every episode; empty:
  // the default look ("visual matching")
  std::string variant;
};

struct SimObservation {
  int image_size = 0;
  std::vector<uint8_t> agentview_rgb;  // (H, W, 3) upright
  std::vector<uint8_t>
      eye_in_hand_rgb;  // (H, W, 3) upright; empty where the rig has no wrist camera
  ArmQ joint_states{};
  std::array<double, 2> gripper_states{};  // finger openings (metres from the centre line)
  Vec3 ee_pos{};
  Vec3 ee_ori{};                      // axis-angle
  Quat ee_quat{};                     // w, x, y, z
  std::vector<double> state;          // simulator state [time | qpos | qvel]
  std::vector<double> object_states;  // privileged object state (sim::object_state)
};

// how a goal's placement went, read from the bodies at every step: where a failed stack let go of
// its object, and whether (and where) the object's target was knocked over on the way
struct PlacementTrace {
  // when the fingers last let go of the object (both had held it the step before): its horizontal
  // distance from the target (m, sim::target_offset_xy; -1: never let go) and its height above its
  // rest on a stack target (m, sim::stack_gap_z; NaN: never let go, or not a stack)
  double release_offset = -1.0;
  double release_gap = std::numeric_limits<double>::quiet_NaN();
  // and how far it then was across the table from where the episode put it (m; -1: never let go):
  // near 0, it was set back down where it was picked
  double release_carried = -1.0;
  // the first step the target was upset (tipped past upset_tilt_deg or slid upset_slide from its
  // reset position): the object's offset and gap then, and whether the fingers held it. -1 and
  // NaN: the target never was (or the goal has none, or it is a drawer, which slides by design)
  double upset_offset = -1.0;
  double upset_gap = std::numeric_limits<double>::quiet_NaN();
  bool upset_held = false;

  static constexpr double upset_tilt_deg = 10.0;
  static constexpr double upset_slide = 0.01;  // m
};

struct StepResult {
  SimObservation observation;
  bool success = false;
  bool done = false;  // success or the step limit
};

class Env {
 public:
  explicit Env(EnvConfig config = {});
  ~Env();

  SimObservation reset(const Task& task, uint64_t seed);
  // action: 7 numbers; NaN/Inf or a wrong length is an error naming the action, values outside
  // [-1, 1] are clipped
  StepResult step(const std::vector<double>& action);

  const Task& task() const;
  const Layout& layout() const { return layout_; }
  int steps() const { return steps_; }
  bool success() const { return success_; }
  // goals of the episode that have held at some step so far (each counted once): a long task's
  // progress when it fails
  int goals_reached() const;
  // placements the instruction did not ask for that held at some step, each counted once: an
  // object of the scene in or on a receptacle (bowl, plate, basket, or a goal's target) where no
  // goal of the episode puts it. wrong-object and wrong-target errors of a failed episode
  int wrong_placements() const;
  // the goals that move an object (sim::moves_object) whose object has been held between both
  // fingers at some step (SimplerEnv's grasp success, recorded beside success), each counted
  // once; and how many such goals there are
  int objects_grasped() const;
  int place_goals() const;
  // per goal of the episode, its object's horizontal distance from its target now (m; -1 for a
  // goal without a target object): how far off a failed placement or stack ended
  std::vector<double> target_offsets() const;
  // per goal, sim::grasp_yaw_error_deg of its object at the step both fingers first held it (-1:
  // never held, no object to move, or a round one): an edge grasp of a cube reads near 45
  const std::vector<double>& grasp_yaw_errors() const { return grasp_yaw_error_; }
  // per goal, how its placement went (a failed stack's diagnosis; see PlacementTrace)
  const std::vector<PlacementTrace>& placements() const { return placements_; }
  // per goal, how far its target object is tipped now (degrees, sim::tilt_deg; -1 without a
  // target object): a stack's base knocked over
  std::vector<double> target_tilts() const;
  const EnvConfig& config() const { return config_; }
  Physics& physics();
  ArmController& controller();
  SimObservation observe();

 private:
  struct SceneInstance;
  SceneInstance& scene_for(const Task& task);

  EnvConfig config_;
  const VisualVariant* variant_;  // config_.variant, resolved once (sim/variants.h)
  std::map<std::string, std::unique_ptr<SceneInstance>> scenes_;  // by MJCF text
  SceneInstance* current_ = nullptr;
  const Task* task_ = nullptr;
  Layout layout_;
  int steps_ = 0;
  bool success_ = false;
  std::vector<char> goal_reached_;          // per layout_.goals
  std::vector<Goal> wrong_goals_;           // Place pairs no goal of layout_ asks for
  std::vector<char> wrong_reached_;         // per wrong_goals_
  std::vector<char> grasped_;               // per layout_.goals (place goals only)
  std::vector<double> grasp_yaw_error_;     // per layout_.goals, degrees at the first grasp
  std::vector<char> held_;                  // per layout_.goals, object between both fingers now
  std::vector<Vec3> target_start_;          // per layout_.goals, the target's reset position
  std::vector<Vec3> object_start_;          // per layout_.goals, the object's reset position
  std::vector<PlacementTrace> placements_;  // per layout_.goals
};

// robot start pose: grip site above the table centre, gripper down and open
constexpr Vec3 home_grip_pos = {-0.15, 0.0, 0.25};

}  // namespace avla::sim
