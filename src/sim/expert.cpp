#include "sim/expert.h"

#include <algorithm>
#include <cmath>

#include "sim/cabinet.h"
#include "sim/goals.h"
#include "sim/scene.h"
#include "util/error.h"

namespace avla::sim {

namespace {

constexpr double carry_height = 0.2;  // grip-site height while carrying
constexpr double open_gripper = -1.0, closed_gripper = 1.0;
// a carried object farther than this from the grip site is no longer held
constexpr double lost_grasp_distance = 0.025;

double norm3(const Vec3& v) {
  return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
}

Vec3 sub(const Vec3& a, const Vec3& b) {
  return {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
}

// a drawer's handle-bar centre in world coordinates
Vec3 handle_pos(const Physics& physics, Cabinet cabinet, const std::string& drawer) {
  const Vec3 d = physics.body_pose(drawer).pos;
  const Vec3 h = handle_offset(cabinet, drawer);
  return {d[0] + h[0], d[1] + h[1], d[2] + h[2]};
}

// the three-drawer cabinet: the grip height from which the hand moves across its front, the
// fingertips above its top
constexpr double above_chest = geom::chest_height + 0.07;

// whether a body of `kind` at `at` keeps its footprint `margin` clear of every object of the task
// other than the two named (the one being moved, and for move-near its target)
bool clear_of_objects(const Physics& physics, const Task& task, const Vec3& at, ObjectKind kind,
                      double margin, const std::string& skip, const std::string& skip_too = "") {
  for (const ObjectSpec& o : task.scene.objects) {
    if (o.name == skip || o.name == skip_too) continue;
    const double gap = footprint_radius(kind) + footprint_radius(o.kind) + margin;
    if (distance_xy(at, physics.body_pose(o.name).pos) < gap) return false;
  }
  return true;
}

// move-near: a spot beside the target, just inside near_gap of its edge, on the side the carried
// object comes from (or turned up to 70 degrees either way), clear of every other object and on
// the table in reach. the first clear spot of that order, else the first
Vec3 near_spot(const Physics& physics, const Task& task, const Goal& goal, const Vec3& from) {
  const ObjectKind kind = object_kind(task, goal.object);
  const Vec3 target = physics.body_pose(goal.target).pos;
  const double r =
      footprint_radius(kind) + footprint_radius(object_kind(task, goal.target)) + near_gap / 2;
  const double base = std::atan2(from[1] - target[1], from[0] - target[0]);
  Vec3 first{};
  for (int i = 0; i < 5; ++i) {
    const double turn = (i + 1) / 2 * 0.6 * (i % 2 == 1 ? 1.0 : -1.0);
    const Vec3 spot{target[0] + r * std::cos(base + turn), target[1] + r * std::sin(base + turn),
                    0.0};
    if (i == 0) first = spot;
    const bool in_reach = spot[0] > -0.32 && spot[0] < 0.1 && std::abs(spot[1]) < 0.26;
    if (in_reach && clear_of_objects(physics, task, spot, kind, 0.02, goal.object, goal.target)) {
      return spot;
    }
  }
  return first;
}

// the phases of each skill, in order: the expert's phase counter steps through them
enum class PickPhase {
  AboveObject,  // 0
  DownToObject,
  Close,
  Lift,
  AboveTarget,
  Lower,
  Release,
  BackUp,
  BackOffLostGrasp,  // regrasp only: back up after a lost grasp, then AboveObject again
};
enum class OpenDrawerPhase { AboveHandle, DownAroundBar, Close, Pull, Release, Up };
enum class CloseDrawerPhase { InFrontOfBar, DownToBar, Push, BackAndUp };
enum class OpenFrontPhase { Rise, AboveHandle, DownAroundBar, Close, Pull, Release, Up };
enum class CloseFrontPhase { Rise, InFrontOfBar, DownToBar, Push, Back, Up };

template <typename Phase>
constexpr int phase_index(Phase p) {
  return static_cast<int>(p);
}

}  // namespace

Expert::Expert(const Task& task, const Layout& layout, uint64_t seed, ExpertConfig config)
    : task_(task), goals_(layout.goals), config_(config), rng_(seed * 7919 + 17) {
  std::uniform_real_distribution<double> speed(0.7, 1.0);
  speed_scale_ = speed(rng_);
  next_phase();
  phase_ = 0;
}

void Expert::advance_if(bool condition, int max_steps, bool last_phase) {
  if (!condition && phase_steps_ < max_steps) return;
  if (last_phase) {
    finish_goal();
  } else {
    next_phase();
  }
}

void Expert::finish_goal() {
  ++goal_index_;
  goal_regrasps_ = 0;
  phase_ = 0;
  phase_steps_ = -1;  // act() counts this step
}

void Expert::next_phase() {
  ++phase_;
  phase_steps_ = 0;
  std::normal_distribution<double> n(0.0, config_.waypoint_jitter);
  jitter_ = {n(rng_), n(rng_), 0.0};
}

Action Expert::move_toward(const Physics& physics, const Target& target, double speed) {
  const Pose grip = physics.site_pose("grip_site");
  // the action's scale, as the environment's controller applies it
  const double max_t = config_.scale.max_translation, max_r = config_.scale.max_rotation;
  Vec3 a;
  for (int i = 0; i < 3; ++i) a[i] = config_.gain * (target.pos[i] - grip.pos[i]) / max_t;
  const double cap = speed * speed_scale_;
  const double n = norm3(a);
  if (n > cap) {
    for (double& v : a) v *= cap / n;
  }
  const Vec3 rot = rotation_error(gripper_down_quat(target.yaw), grip.quat);
  Action action;
  for (int i = 0; i < 3; ++i) {
    action[i] = std::clamp(a[i], -1.0, 1.0);
    action[3 + i] = std::clamp(config_.gain * rot[i] / max_r, -0.6, 0.6);
  }
  action[6] = target.gripper;
  return action;
}

std::string Expert::take_grasp_failure() {
  std::string object;
  object.swap(grasp_failure_);
  return object;
}

Action Expert::act(const Physics& physics) {
  if (finished()) return {0, 0, 0, 0, 0, 0, open_gripper};
  const Goal& goal = goals_[goal_index_];
  Action a;
  switch (goal.kind) {
    case GoalKind::Place:
    case GoalKind::Lift:
    case GoalKind::Near:
      a = pick_place(physics, goal);
      break;
    case GoalKind::DrawerOpen:
      a = task_.scene.cabinet == Cabinet::ThreeDrawers ? open_front_handle(physics, goal)
                                                       : open_drawer(physics, goal);
      break;
    case GoalKind::DrawerClosed:
      a = task_.scene.cabinet == Cabinet::ThreeDrawers ? close_front_handle(physics, goal)
                                                       : close_drawer(physics, goal);
      break;
  }
  ++phase_steps_;
  return a;
}

// pick and place, through PickPhase: above the object, down, close, lift, above the target,
// lower, release, back up; with regrasp on, a lost grasp backs off and starts over
Action Expert::pick_place(const Physics& physics, const Goal& goal) {
  const Pose grip = physics.site_pose("grip_site");
  const Pose obj = physics.body_pose(goal.object);
  const ObjectKind kind = object_kind(task_, goal.object);
  // where the object goes: onto or into the target (a lift goal has none)
  // (move-near: the spot beside the target chosen while lifting)
  Vec3 dest = goal.kind == GoalKind::Place  ? physics.body_pose(goal.target).pos
              : goal.kind == GoalKind::Near ? near_spot_
                                            : Vec3{};
  const double rest = rest_height(kind);
  // into a drawer: over the middle of its open part, at its floor, carried above its front panel
  const bool into_drawer = goal.kind == GoalKind::Place && is_drawer(task_, goal.target);
  double carry = carry_height;
  if (into_drawer) {
    const DrawerInterior in = drawer_interior(task_.scene.cabinet);
    const double opening = physics.joint_qpos(drawer_joint(goal.target));
    dest = {dest[0] + (in.inner_x0 + opening) / 2, dest[1], dest[2] + in.floor_z};
    carry = std::max(carry_height, dest[2] - in.floor_z + in.rim_z + 0.012 + rest + 0.03);
  }
  std::normal_distribution<double> noise(0.0, config_.action_noise);
  // a carried object that is no longer at the fingers (a missed or lost grasp): recover
  const bool carrying = phase_ >= phase_index(PickPhase::Lift) &&
                        phase_ <= phase_index(PickPhase::Lower) && phase_steps_ >= 1;
  if (config_.regrasp > 0 && carrying && norm3(sub(obj.pos, grip.pos)) > lost_grasp_distance &&
      goal_regrasps_ < max_regrasps) {
    ++goal_regrasps_;
    ++regrasps_total_;
    phase_ = phase_index(PickPhase::BackOffLostGrasp);
    phase_steps_ = 0;
  }
  Action a{};
  switch (static_cast<PickPhase>(phase_)) {
    case PickPhase::AboveObject: {
      yaw_ = grasp_yaw(obj.quat, kind);
      // a round object into a drawer: the fingers along the drawer's width, clear of its walls
      if (into_drawer && !is_elongated(kind) && kind != ObjectKind::Cube) yaw_ = M_PI / 2;
      const Target t{
          {obj.pos[0] + jitter_[0], obj.pos[1] + jitter_[1], obj.pos[2] + 0.1}, yaw_, open_gripper};
      a = move_toward(physics, t, 1.0);
      for (int i = 0; i < 3; ++i) a[i] = std::clamp(a[i] + noise(rng_), -1.0, 1.0);
      const Vec3 err = sub(t.pos, grip.pos);
      advance_if(norm3(err) < 0.012, 80);
      break;
    }
    case PickPhase::DownToObject: {
      // at the object's grasp point (its centre; a standing can lower)
      const double z = obj.pos[2] - grasp_depth(kind);
      const Target t{{obj.pos[0], obj.pos[1], std::max(z, 0.018)}, yaw_, open_gripper};
      a = move_toward(physics, t, 0.5);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.006, 40);
      anchor_ = t.pos;
      break;
    }
    case PickPhase::Close: {
      a = move_toward(physics, {anchor_, yaw_, closed_gripper}, 0.3);
      advance_if(false, 8);
      // regrasp demonstrations: the goal's first grasp is made to fail with this probability
      std::uniform_real_distribution<double> unit(0.0, 1.0);
      if (phase_ == phase_index(PickPhase::Lift) && config_.regrasp > 0 && goal_regrasps_ == 0 &&
          unit(rng_) < config_.regrasp) {
        grasp_failure_ = goal.object;
      }
      break;
    }
    case PickPhase::Lift: {
      const Target t{{anchor_[0], anchor_[1], carry}, yaw_, closed_gripper};
      a = move_toward(physics, t, 0.8);
      // a lift goal ends here, the object held up
      advance_if(std::abs(t.pos[2] - grip.pos[2]) < 0.015, 40, goal.kind == GoalKind::Lift);
      // the object's height below the grip site, for placing it at the right height
      anchor_[2] = obj.pos[2] - grip.pos[2];
      // move-near: the spot beside the target, from where the object is as the carry starts
      if (goal.kind == GoalKind::Near) near_spot_ = near_spot(physics, task_, goal, obj.pos);
      break;
    }
    case PickPhase::AboveTarget: {
      const Target t{{dest[0] + jitter_[0], dest[1] + jitter_[1], carry}, yaw_, closed_gripper};
      a = move_toward(physics, t, 1.0);
      for (int i = 0; i < 2; ++i) a[i] = std::clamp(a[i] + noise(rng_), -1.0, 1.0);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.012, 80);
      break;
    }
    case PickPhase::Lower: {
      // where the object's centre should end, a little above its resting place
      double object_z = dest[2];
      if (goal.kind == GoalKind::Near) {
        object_z = rest + 0.012;  // on the table beside the target (dest is at table height)
      } else if (into_drawer) {
        object_z += rest + 0.012;  // dest is at the drawer's floor
      } else {
        switch (object_kind(task_, goal.target)) {
          case ObjectKind::Bowl:
            object_z += 0.008 + rest + 0.02;
            break;
          case ObjectKind::Basket:
            object_z += 0.008 + rest + 0.025;
            break;
          case ObjectKind::Plate:
            object_z += geom::plate_half + rest + 0.012;
            break;
          case ObjectKind::Towel:
            object_z += geom::towel_half_z + rest + 0.012;
            break;
          default:  // stacked on the target
            object_z += rest_height(object_kind(task_, goal.target)) + rest + 0.01;
            break;
        }
      }
      const Target t{{dest[0], dest[1], object_z - anchor_[2]}, yaw_, closed_gripper};
      a = move_toward(physics, t, 0.5);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.008, 40);
      break;
    }
    case PickPhase::Release:
      a = move_toward(physics, {grip.pos, yaw_, open_gripper}, 0.2);
      for (int i = 0; i < 6; ++i) a[i] = 0.0;
      advance_if(false, 6);
      break;
    case PickPhase::BackOffLostGrasp: {
      // back straight up with the fingers still closed, clear of the object's top, then approach
      // it again (phase 0 opens the gripper above it); opening low would sweep the fingers
      // into an object that lies beside them
      const Target t{{grip.pos[0], grip.pos[1], obj.pos[2] + 0.08}, yaw_, closed_gripper};
      a = move_toward(physics, t, 0.6);
      a[0] = a[1] = 0.0;
      if (t.pos[2] - grip.pos[2] < 0.015 || phase_steps_ >= 40) {
        phase_ = phase_index(PickPhase::AboveObject) - 1;
        next_phase();
      }
      break;
    }
    case PickPhase::BackUp:
    default: {
      const Target t{{grip.pos[0], grip.pos[1], carry}, yaw_, open_gripper};
      a = move_toward(physics, t, 0.8);
      a[0] = a[1] = 0.0;
      advance_if(carry - grip.pos[2] < 0.02, 30, true);
      break;
    }
  }
  return a;
}

// open the drawer, through OpenDrawerPhase: above the handle, down around the bar, close, pull,
// release, up
Action Expert::open_drawer(const Physics& physics, const Goal& goal) {
  const Pose grip = physics.site_pose("grip_site");
  const Vec3 handle = handle_pos(physics, task_.scene.cabinet, goal.object);
  Action a{};
  switch (static_cast<OpenDrawerPhase>(phase_)) {
    case OpenDrawerPhase::AboveHandle: {
      const Target t{{handle[0], handle[1] + jitter_[1], handle[2] + 0.08}, 0.0, open_gripper};
      a = move_toward(physics, t, 1.0);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.01, 80);
      break;
    }
    case OpenDrawerPhase::DownAroundBar: {
      const Target t{{handle[0], grip.pos[1], handle[2]}, 0.0, open_gripper};
      a = move_toward(physics, t, 0.5);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.006, 40);
      anchor_ = t.pos;
      break;
    }
    case OpenDrawerPhase::Close:
      a = move_toward(physics, {anchor_, 0.0, closed_gripper}, 0.3);
      advance_if(false, 8);
      break;
    case OpenDrawerPhase::Pull: {
      const Target t{
          {anchor_[0] - geom::drawer_travel - 0.01, anchor_[1], anchor_[2]}, 0.0, closed_gripper};
      a = move_toward(physics, t, 0.5);
      advance_if(physics.joint_qpos(drawer_joint(goal.object)) > geom::drawer_travel - 0.015, 60);
      break;
    }
    case OpenDrawerPhase::Release:
      a = move_toward(physics, {grip.pos, 0.0, open_gripper}, 0.2);
      for (int i = 0; i < 6; ++i) a[i] = 0.0;
      advance_if(false, 6);
      break;
    case OpenDrawerPhase::Up:
    default: {
      const Target t{{grip.pos[0], grip.pos[1], handle[2] + 0.1}, 0.0, open_gripper};
      a = move_toward(physics, t, 0.8);
      a[0] = a[1] = 0.0;
      advance_if(t.pos[2] - grip.pos[2] < 0.02, 30, true);
      break;
    }
  }
  return a;
}

// close the drawer, through CloseDrawerPhase: in front of the bar (gripper closed), down to bar
// height, push, back and up
Action Expert::close_drawer(const Physics& physics, const Goal& goal) {
  const Pose grip = physics.site_pose("grip_site");
  const Vec3 handle = handle_pos(physics, task_.scene.cabinet, goal.object);
  const double closed_bar_x = geom::cabinet_pos[0] - geom::cabinet_depth + geom::wall;
  Action a{};
  switch (static_cast<CloseDrawerPhase>(phase_)) {
    case CloseDrawerPhase::InFrontOfBar: {
      const Target t{
          {handle[0] - 0.07, handle[1] + jitter_[1], handle[2] + 0.06}, 0.0, closed_gripper};
      a = move_toward(physics, t, 1.0);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.01, 80);
      break;
    }
    case CloseDrawerPhase::DownToBar: {
      const Target t{{handle[0] - 0.07, grip.pos[1], handle[2]}, 0.0, closed_gripper};
      a = move_toward(physics, t, 0.5);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.008, 40);
      break;
    }
    case CloseDrawerPhase::Push: {
      const Target t{{closed_bar_x - 0.016, grip.pos[1], handle[2]}, 0.0, closed_gripper};
      a = move_toward(physics, t, 0.5);
      advance_if(physics.joint_qpos(drawer_joint(goal.object)) < drawer_closed_threshold / 2, 60);
      break;
    }
    case CloseDrawerPhase::BackAndUp:
    default: {
      const Target t{{closed_bar_x - 0.08, grip.pos[1], handle[2] + 0.08}, 0.0, open_gripper};
      a = move_toward(physics, t, 0.8);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.02, 30, true);
      break;
    }
  }
  return a;
}

// open a drawer of the three-drawer cabinet, through OpenFrontPhase: up above the cabinet, over
// the handle, straight down with the fingers open around the bar (the one behind it passes
// between them), close, pull, release, straight up
Action Expert::open_front_handle(const Physics& physics, const Goal& goal) {
  const Pose grip = physics.site_pose("grip_site");
  const Vec3 handle = handle_pos(physics, task_.scene.cabinet, goal.object);
  const double opening = physics.joint_qpos(drawer_joint(goal.object));
  Action a{};
  switch (static_cast<OpenFrontPhase>(phase_)) {
    case OpenFrontPhase::Rise: {
      const Target t{{grip.pos[0], grip.pos[1], above_chest}, 0.0, open_gripper};
      a = move_toward(physics, t, 0.8);
      a[0] = a[1] = 0.0;
      advance_if(above_chest - grip.pos[2] < 0.02, 30);
      break;
    }
    case OpenFrontPhase::AboveHandle: {
      const Target t{{handle[0], handle[1] + jitter_[1], above_chest}, 0.0, open_gripper};
      a = move_toward(physics, t, 1.0);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.01, 80);
      break;
    }
    case OpenFrontPhase::DownAroundBar: {
      const Target t{{handle[0], grip.pos[1], handle[2]}, 0.0, open_gripper};
      a = move_toward(physics, t, 0.6);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.006, 50);
      anchor_ = t.pos;
      break;
    }
    case OpenFrontPhase::Close:
      a = move_toward(physics, {anchor_, 0.0, closed_gripper}, 0.3);
      advance_if(false, 8);
      break;
    case OpenFrontPhase::Pull: {
      const Target t{
          {anchor_[0] - geom::drawer_travel - 0.01, anchor_[1], anchor_[2]}, 0.0, closed_gripper};
      a = move_toward(physics, t, 0.5);
      advance_if(opening > geom::drawer_travel - 0.015, 60);
      break;
    }
    case OpenFrontPhase::Release:
      a = move_toward(physics, {grip.pos, 0.0, open_gripper}, 0.2);
      for (int i = 0; i < 6; ++i) a[i] = 0.0;
      advance_if(false, 6);
      break;
    case OpenFrontPhase::Up:
    default: {
      const Target t{{grip.pos[0], grip.pos[1], above_chest}, 0.0, open_gripper};
      a = move_toward(physics, t, 0.8);
      a[0] = a[1] = 0.0;
      advance_if(above_chest - grip.pos[2] < 0.02, 40, true);
      break;
    }
  }
  return a;
}

// close a drawer of the three-drawer cabinet, through CloseFrontPhase: up above the cabinet, in
// front of the open drawer's bar (fingers closed), down to its height, push, straight back, up
Action Expert::close_front_handle(const Physics& physics, const Goal& goal) {
  const Pose grip = physics.site_pose("grip_site");
  const Vec3 handle = handle_pos(physics, task_.scene.cabinet, goal.object);
  const double closed_bar_x = geom::chest_pos[0] - geom::chest_depth - geom::chest_handle_standoff;
  Action a{};
  switch (static_cast<CloseFrontPhase>(phase_)) {
    case CloseFrontPhase::Rise: {
      const Target t{{grip.pos[0], grip.pos[1], above_chest}, 0.0, closed_gripper};
      a = move_toward(physics, t, 0.8);
      a[0] = a[1] = 0.0;
      advance_if(above_chest - grip.pos[2] < 0.02, 30);
      break;
    }
    case CloseFrontPhase::InFrontOfBar: {
      const Target t{{handle[0] - 0.06, handle[1] + jitter_[1], above_chest}, 0.0, closed_gripper};
      a = move_toward(physics, t, 1.0);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.01, 80);
      break;
    }
    case CloseFrontPhase::DownToBar: {
      const Target t{{handle[0] - 0.06, grip.pos[1], handle[2]}, 0.0, closed_gripper};
      a = move_toward(physics, t, 0.6);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.008, 50);
      break;
    }
    case CloseFrontPhase::Push: {
      const Target t{{closed_bar_x - 0.016, grip.pos[1], handle[2]}, 0.0, closed_gripper};
      a = move_toward(physics, t, 0.5);
      advance_if(physics.joint_qpos(drawer_joint(goal.object)) < drawer_closed_threshold / 2, 60);
      break;
    }
    case CloseFrontPhase::Back: {
      const Target t{{closed_bar_x - 0.08, grip.pos[1], handle[2]}, 0.0, closed_gripper};
      a = move_toward(physics, t, 0.8);
      advance_if(norm3(sub(t.pos, grip.pos)) < 0.015, 30);
      break;
    }
    case CloseFrontPhase::Up:
    default: {
      const Target t{{grip.pos[0], grip.pos[1], above_chest}, 0.0, closed_gripper};
      a = move_toward(physics, t, 0.8);
      a[0] = a[1] = 0.0;
      advance_if(above_chest - grip.pos[2] < 0.02, 40, true);
      break;
    }
  }
  return a;
}

bool displace_object(Physics& physics, const Task& task, const std::string& object,
                     std::mt19937_64& rng) {
  const Pose from = physics.body_pose(object);
  const ObjectKind kind = object_kind(task, object);
  std::uniform_real_distribution<double> radius(0.055, 0.08), angle(-M_PI, M_PI);
  for (int draw = 0; draw < 20; ++draw) {
    const double r = radius(rng), phi = angle(rng);
    const Vec3 to{from.pos[0] + r * std::cos(phi), from.pos[1] + r * std::sin(phi),
                  rest_height(kind) + 0.001};
    bool clear = std::abs(to[0]) < geom::table_half_x - 0.05 &&
                 std::abs(to[1]) < geom::table_half_y - 0.05 &&
                 clear_of_objects(physics, task, to, kind, 0.01, object);
    if (in_cabinet_footprint(task.scene, to, footprint_radius(kind) + 0.01)) clear = false;
    if (!clear) continue;
    // upright, keeping only the yaw (the fingers may have tilted it while closing)
    physics.set_free_pose(object, {to, yaw_quat(yaw_of(from.quat))});
    physics.forward();
    return true;
  }
  return false;
}

}  // namespace avla::sim
