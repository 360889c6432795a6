// the closed-loop environment: reset(task, seed) -> observation, step(action) -> observation,
// success, done. deterministic for a seed: same seed, same images and states, byte for byte.
#pragma once

#include <cstdint>
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
  std::vector<char> goal_reached_;       // per layout_.goals
  std::vector<Goal> wrong_goals_;        // Place pairs no goal of layout_ asks for
  std::vector<char> wrong_reached_;      // per wrong_goals_
  std::vector<char> grasped_;            // per layout_.goals (place goals only)
  std::vector<double> grasp_yaw_error_;  // per layout_.goals, degrees at the first grasp
};

// robot start pose: grip site above the table centre, gripper down and open
constexpr Vec3 home_grip_pos = {-0.15, 0.0, 0.25};

}  // namespace avla::sim
