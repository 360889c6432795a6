#include "sim/env.h"

#include <mujoco/mujoco.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/cabinet.h"
#include "sim/goals.h"
#include "sim/variants.h"
#include "util/error.h"

namespace avla::sim {

struct Env::SceneInstance {
  std::unique_ptr<Physics> physics;
  std::unique_ptr<ArmController> controller;
  std::unique_ptr<Renderer> renderer;
  int agentview = -1, eye_in_hand = -1;
};

namespace {

// marks each goal that holds now in reached (once reached, always reached); true when every goal
// holds at this step
bool mark_held(const Physics& physics, const Task& task, const std::vector<Goal>& goals,
               std::vector<char>& reached) {
  bool all = true;
  for (size_t g = 0; g < goals.size(); ++g) {
    const bool held = goal_satisfied(physics, task, goals[g]);
    reached[g] = reached[g] || held;
    all = all && held;
  }
  return all;
}

// no placed object touches a finger (SimplerEnv counts a placement once it is released; a lift
// goal is the one that holds its object)
bool released(const Physics& physics, const std::vector<Goal>& goals) {
  for (const Goal& g : goals) {
    if (moves_object(g) && g.kind != GoalKind::Lift && touches_fingers(physics, g.object)) {
      return false;
    }
  }
  return true;
}

// a goal whose target is an object that stands on the table (not a drawer, which slides by design)
bool has_upright_target(const Task& task, const Goal& goal) {
  return (goal.kind == GoalKind::Place || goal.kind == GoalKind::Near) &&
         !is_drawer(task, goal.target);
}

int count_reached(const std::vector<char>& reached) {
  return static_cast<int>(std::count(reached.begin(), reached.end(), 1));
}

}  // namespace

Env::Env(EnvConfig config)
    : config_(config), variant_(&find_variant(config_.variant)) {  // unknown names fail here
  AVLA_CHECK(config_.image_size >= 8 && config_.image_size <= 1024, "env",
             "image_size {} outside [8, 1024]", config_.image_size);
}

Env::~Env() = default;

Env::SceneInstance& Env::scene_for(const Task& task) {
  SceneSpec spec = variant_scene(task, *variant_);
  spec.image_size = config_.image_size;
  const std::string xml = build_scene_xml(spec);
  auto& slot = scenes_[xml];
  if (!slot) {
    slot = std::make_unique<SceneInstance>();
    slot->physics = std::make_unique<Physics>(xml);
    slot->controller = std::make_unique<ArmController>(*slot->physics, config_.controller);
    slot->agentview = slot->physics->camera_id("agentview");
    slot->eye_in_hand = slot->physics->camera_id("eye_in_hand");
    if (config_.render) {
      slot->renderer = std::make_unique<Renderer>(*slot->physics, config_.image_size);
    }
  }
  return *slot;
}

const Task& Env::task() const {
  AVLA_CHECK(task_ != nullptr, "env", "step() or task() before reset()");
  return *task_;
}

Physics& Env::physics() {
  AVLA_CHECK(current_ != nullptr, "env", "physics() before reset()");
  return *current_->physics;
}

ArmController& Env::controller() {
  AVLA_CHECK(current_ != nullptr, "env", "controller() before reset()");
  return *current_->controller;
}

SimObservation Env::reset(const Task& task, uint64_t seed) {
  current_ = &scene_for(task);
  task_ = &task;
  layout_ = sample_layout(task, seed);
  Physics& physics = *current_->physics;
  physics.reset();
  for (size_t i = 0; i < task.scene.objects.size(); ++i) {
    physics.set_free_pose(task.scene.objects[i].name, layout_.object_poses[i]);
  }
  const std::string drawer = task_drawer(task);
  for (const std::string& d : drawer_names(task.scene.cabinet)) {
    physics.set_joint_qpos(drawer_joint(d), d == drawer ? task.drawer_start : 0.0);
  }
  place_distractors(physics, task, *variant_, seed);
  Vec3 grip_start = home_grip_pos;
  for (int i = 0; i < 3; ++i) grip_start[i] += layout_.grip_offset[i];
  current_->controller->reset_to_home(grip_start);
  // let objects settle with the arm holding still
  const Action hold = {0, 0, 0, 0, 0, 0, -1};
  for (int i = 0; i < config_.settle_steps; ++i) {
    current_->controller->apply(hold);
    current_->controller->step();
  }
  physics.data()->time = 0.0;
  steps_ = 0;
  success_ = false;
  goal_reached_.assign(layout_.goals.size(), 0);
  wrong_goals_ = unrequested_placements(task, layout_);
  wrong_reached_.assign(wrong_goals_.size(), 0);
  grasped_.assign(layout_.goals.size(), 0);
  grasp_yaw_error_.assign(layout_.goals.size(), -1.0);
  held_.assign(layout_.goals.size(), 0);
  placements_.assign(layout_.goals.size(), PlacementTrace{});
  target_start_.clear();
  object_start_.clear();
  for (const Goal& g : layout_.goals) {
    object_start_.push_back(moves_object(g) ? physics.body_pose(g.object).pos : Vec3{});
    target_start_.push_back(has_upright_target(*task_, g) ? physics.body_pose(g.target).pos
                                                          : Vec3{});
  }
  return observe();
}

StepResult Env::step(const std::vector<double>& action) {
  AVLA_CHECK(current_ != nullptr, "env", "step() before reset()");
  AVLA_CHECK(action.size() == 7, "env",
             "action has {} numbers, expected 7 [dx, dy, dz, dax, day, daz, gripper]",
             action.size());
  Action clipped;
  for (int i = 0; i < 7; ++i) {
    AVLA_CHECK(std::isfinite(action[i]), "env", "action[{}] is {} (must be finite)", i, action[i]);
    clipped[i] = std::clamp(action[i], -1.0, 1.0);
  }
  current_->controller->apply(clipped);
  current_->controller->step();
  ++steps_;
  StepResult result;
  // every goal on its own (progress), success when all hold at this same step
  const Physics& physics = *current_->physics;
  result.success = mark_held(physics, *task_, layout_.goals, goal_reached_);
  if (task_->release_required) result.success = result.success && released(physics, layout_.goals);
  success_ = success_ || result.success;
  for (size_t g = 0; g < layout_.goals.size(); ++g) {
    const Goal& goal = layout_.goals[g];
    if (!moves_object(goal)) continue;
    const bool held = held_by_fingers(physics, goal.object);
    if (held && !grasped_[g]) {
      grasped_[g] = 1;
      grasp_yaw_error_[g] = grasp_yaw_error_deg(physics, *task_, goal.object);
    }
    PlacementTrace& trace = placements_[g];
    // a release: held the step before, not now
    if (held_[g] && !held) {
      trace.release_offset = target_offset_xy(physics, goal);
      trace.release_gap = stack_gap_z(physics, *task_, goal);
      trace.release_carried = distance_xy(physics.body_pose(goal.object).pos, object_start_[g]);
    }
    held_[g] = held;
    // the target's first upset: tipped, or slid from where the episode put it
    if (trace.upset_offset < 0 && has_upright_target(*task_, goal) &&
        (tilt_deg(physics, goal.target) > PlacementTrace::upset_tilt_deg ||
         distance_xy(physics.body_pose(goal.target).pos, target_start_[g]) >
             PlacementTrace::upset_slide)) {
      trace.upset_offset = target_offset_xy(physics, goal);
      trace.upset_gap = stack_gap_z(physics, *task_, goal);
      trace.upset_held = held;
    }
  }
  mark_held(*current_->physics, *task_, wrong_goals_, wrong_reached_);
  result.done = result.success || steps_ >= task_->max_steps;
  result.observation = observe();
  return result;
}

int Env::goals_reached() const {
  return count_reached(goal_reached_);
}

int Env::wrong_placements() const {
  return count_reached(wrong_reached_);
}

int Env::objects_grasped() const {
  return count_reached(grasped_);
}

int Env::place_goals() const {
  return static_cast<int>(std::count_if(layout_.goals.begin(), layout_.goals.end(),
                                        [](const Goal& g) { return moves_object(g); }));
}

std::vector<double> Env::target_offsets() const {
  AVLA_CHECK(current_ != nullptr, "env", "target_offsets() before reset()");
  std::vector<double> offsets;
  for (const Goal& g : layout_.goals) offsets.push_back(target_offset_xy(*current_->physics, g));
  return offsets;
}

std::vector<double> Env::target_tilts() const {
  AVLA_CHECK(current_ != nullptr, "env", "target_tilts() before reset()");
  std::vector<double> tilts;
  for (const Goal& g : layout_.goals) {
    tilts.push_back(has_upright_target(*task_, g) ? tilt_deg(*current_->physics, g.target) : -1.0);
  }
  return tilts;
}

SimObservation Env::observe() {
  AVLA_CHECK(current_ != nullptr, "env", "observe() before reset()");
  Physics& physics = *current_->physics;
  SimObservation obs;
  if (current_->renderer) {
    const int s = config_.image_size;
    obs.image_size = s;
    obs.agentview_rgb.resize(static_cast<size_t>(s) * s * 3);
    current_->renderer->render(physics, current_->agentview, obs.agentview_rgb.data());
    if (task_->scene.wrist_camera()) {
      obs.eye_in_hand_rgb.resize(static_cast<size_t>(s) * s * 3);
      current_->renderer->render(physics, current_->eye_in_hand, obs.eye_in_hand_rgb.data());
    }
  }
  obs.joint_states = current_->controller->arm_qpos();
  obs.gripper_states = current_->controller->finger_qpos();
  const Pose grip = current_->controller->grip_pose();
  obs.ee_pos = grip.pos;
  obs.ee_quat = grip.quat;
  Quat q = grip.quat;
  if (q[0] < 0) {
    for (double& v : q) v = -v;
  }
  mju_quat2Vel(obs.ee_ori.data(), q.data(), 1.0);
  obs.state = physics.state();
  obs.object_states = object_state(physics, *task_);
  return obs;
}

}  // namespace avla::sim
