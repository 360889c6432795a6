#include "sim/goals.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "data/object_state.h"
#include "sim/cabinet.h"
#include "util/error.h"

namespace avla::sim {

bool held_by_fingers(const Physics& physics, const std::string& object) {
  return physics.in_contact(object, "finger_left") && physics.in_contact(object, "finger_right");
}

bool touches_fingers(const Physics& physics, const std::string& object) {
  return physics.in_contact(object, "finger_left") || physics.in_contact(object, "finger_right");
}

double target_offset_xy(const Physics& physics, const Goal& goal) {
  if (goal.kind != GoalKind::Place && goal.kind != GoalKind::Near) return -1.0;
  return distance_xy(physics.body_pose(goal.object).pos, physics.body_pose(goal.target).pos);
}

double stack_gap_z(const Physics& physics, const Task& task, const Goal& goal) {
  const double none = std::numeric_limits<double>::quiet_NaN();
  if (goal.kind != GoalKind::Place || is_drawer(task, goal.target)) return none;
  const ObjectKind target = object_kind(task, goal.target);
  if (target != ObjectKind::Cube && target != ObjectKind::Cylinder) return none;
  const double dz = physics.body_pose(goal.object).pos[2] - physics.body_pose(goal.target).pos[2];
  return dz - (rest_height(target) + rest_height(object_kind(task, goal.object)));
}

double tilt_deg(const Physics& physics, const std::string& body) {
  // the world z component of the body's z axis: R[2][2] of its unit quaternion (w, x, y, z)
  const Quat q = physics.body_pose(body).quat;
  const double n2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3];
  const double zz = 1.0 - 2.0 * (q[1] * q[1] + q[2] * q[2]) / n2;
  return std::acos(std::clamp(zz, -1.0, 1.0)) * 180.0 / M_PI;
}

double grasp_yaw(const Quat& q, ObjectKind kind) {
  if (is_elongated(kind)) return std::remainder(yaw_of(q) + M_PI / 2, M_PI);  // [-pi/2, pi/2]
  if (kind != ObjectKind::Cube) return 0.0;
  const double yaw = yaw_of(q);
  double y = std::fmod(yaw, M_PI / 2);
  if (y > M_PI / 4) y -= M_PI / 2;
  if (y < -M_PI / 4) y += M_PI / 2;
  return y;
}

int yaw_order(ObjectKind kind) {
  return kind == ObjectKind::Cube ? 4 : is_elongated(kind) ? 2 : 0;
}

std::array<double, 2> yaw_features(const Quat& q, ObjectKind kind) {
  const double k = yaw_order(kind);
  if (k == 0.0) return {0.0, 0.0};
  const double g = grasp_yaw(q, kind);
  return {std::sin(k * g), std::cos(k * g)};
}

double grasp_yaw_error_deg(const Physics& physics, const Task& task, const std::string& object) {
  const ObjectKind kind = object_kind(task, object);
  if (kind != ObjectKind::Cube && !is_elongated(kind)) return -1.0;
  // the fingers close along the grip site's local x; the wanted yaw repeats every 90 degrees for
  // a cube and every 180 for a lying object
  const double closing = yaw_of(physics.site_pose("grip_site").quat);
  const double period = kind == ObjectKind::Cube ? M_PI / 2 : M_PI;
  const double error =
      std::remainder(closing - grasp_yaw(physics.body_pose(object).quat, kind), period);
  return std::abs(error) * 180.0 / M_PI;
}

bool goal_satisfied(const Physics& physics, const Task& task, const Goal& goal) {
  switch (goal.kind) {
    case GoalKind::DrawerOpen:
      return physics.joint_qpos(drawer_joint(goal.object)) > drawer_open_threshold;
    case GoalKind::DrawerClosed:
      return physics.joint_qpos(drawer_joint(goal.object)) < drawer_closed_threshold;
    case GoalKind::Lift: {
      const double z = physics.body_pose(goal.object).pos[2];
      return z > rest_height(object_kind(task, goal.object)) + lift_height &&
             held_by_fingers(physics, goal.object);
    }
    case GoalKind::Near: {
      // both resting on the table (the target not knocked over), footprints within near_gap
      const ObjectKind kind = object_kind(task, goal.object);
      const ObjectKind target = object_kind(task, goal.target);
      const Vec3 o = physics.body_pose(goal.object).pos;
      const Vec3 t = physics.body_pose(goal.target).pos;
      return distance_xy(o, t) < footprint_radius(kind) + footprint_radius(target) + near_gap &&
             std::abs(o[2] - rest_height(kind)) < 0.015 &&
             std::abs(t[2] - rest_height(target)) < 0.015;
    }
    case GoalKind::Place:
      break;
  }
  const Pose o = physics.body_pose(goal.object);
  const Pose t = physics.body_pose(goal.target);
  if (is_drawer(task, goal.target)) {
    // inside the drawer: between its front panel and back wall, its side walls, above its floor
    // and below its rim (the drawer does not turn: its frame is the world's, shifted)
    const DrawerInterior in = drawer_interior(task.scene.cabinet);
    const Vec3 d{o.pos[0] - t.pos[0], o.pos[1] - t.pos[1], o.pos[2] - t.pos[2]};
    return d[0] > in.inner_x0 && d[0] < in.inner_x1 && std::abs(d[1]) < in.inner_half_width &&
           d[2] > in.floor_z && d[2] < in.rim_z;
  }
  const double dxy = distance_xy(o.pos, t.pos);
  const double dz = o.pos[2] - t.pos[2];
  const double rest = rest_height(object_kind(task, goal.object));
  switch (object_kind(task, goal.target)) {
    case ObjectKind::Bowl:
      return dxy < geom::bowl_radius - 0.01 && dz > 0 && dz < geom::bowl_height;
    case ObjectKind::Basket:
      return std::abs(o.pos[0] - t.pos[0]) < geom::basket_half - 0.01 &&
             std::abs(o.pos[1] - t.pos[1]) < geom::basket_half - 0.01 && dz > 0 &&
             dz < geom::basket_height;
    case ObjectKind::Plate:
      // resting on the plate: centre within the rim, no higher than its own rest height above it
      return dxy < geom::plate_radius - 0.01 && dz > geom::plate_half &&
             dz < geom::plate_half + rest + 0.015;
    case ObjectKind::Towel:
      // lying on the cloth: centre inside its edge, resting (not held above it)
      return std::abs(o.pos[0] - t.pos[0]) < geom::towel_half - 0.01 &&
             std::abs(o.pos[1] - t.pos[1]) < geom::towel_half - 0.01 && dz > geom::towel_half_z &&
             dz < geom::towel_half_z + rest + 0.015;
    case ObjectKind::Cube:
    case ObjectKind::Cylinder:
      return dxy < 0.02 && std::abs(stack_gap_z(physics, task, goal)) < 0.012;
    case ObjectKind::Spoon:
    case ObjectKind::Carrot:
    case ObjectKind::Eggplant:
    case ObjectKind::Can:
    case ObjectKind::LyingCan:
    case ObjectKind::Apple:
      break;  // nothing is put on these
  }
  return false;
}

std::vector<Goal> unrequested_placements(const Task& task, const Layout& layout) {
  std::set<std::string> receptacles;
  for (const ObjectSpec& o : task.scene.objects) {
    if (is_receptacle(o.kind)) {
      receptacles.insert(o.name);
    }
  }
  std::set<std::pair<std::string, std::string>> requested;
  for (const Goal& g : layout.goals) {
    if (g.kind != GoalKind::Place) continue;
    AVLA_CHECK(g.object != "@", "task", "task '{}': the layout's goal names no object", task.name);
    receptacles.insert(g.target);
    requested.insert({g.object, g.target});
  }
  std::vector<Goal> pairs;
  for (const ObjectSpec& o : task.scene.objects) {
    if (receptacles.count(o.name) > 0) continue;
    for (const std::string& target : receptacles) {
      if (requested.count({o.name, target}) == 0)
        pairs.push_back({GoalKind::Place, o.name, target});
    }
  }
  return pairs;
}

std::vector<double> object_state(const Physics& physics, const Task& task) {
  const auto& objects = task.scene.objects;
  AVLA_CHECK(objects.size() <= static_cast<size_t>(max_state_objects), "task",
             "task '{}' has {} objects; the privileged object state holds {}", task.name,
             objects.size(), max_state_objects);
  std::vector<double> state(object_state_dim, 0.0);
  for (size_t i = 0; i < objects.size(); ++i) {
    const Pose p = physics.body_pose(objects[i].name);
    std::copy(p.pos.begin(), p.pos.end(), state.begin() + 3 * static_cast<std::ptrdiff_t>(i));
    const auto yaw = yaw_features(p.quat, objects[i].kind);
    std::copy(yaw.begin(), yaw.end(),
              state.begin() + object_yaw_offset + 2 * static_cast<std::ptrdiff_t>(i));
  }
  // the three-drawer cabinet: each drawer's front-face position in the slots after the objects
  const auto& drawers = drawer_names(task.scene.cabinet);
  if (drawers.size() > 1) {
    AVLA_CHECK(objects.size() + drawers.size() <= static_cast<size_t>(max_state_objects), "task",
               "task '{}' has {} objects and {} drawers; the privileged object state holds {}",
               task.name, objects.size(), drawers.size(), max_state_objects);
    for (size_t k = 0; k < drawers.size(); ++k) {
      const Pose p = physics.body_pose(drawers[k]);
      std::copy(p.pos.begin(), p.pos.end(),
                state.begin() + 3 * static_cast<std::ptrdiff_t>(objects.size() + k));
    }
  }
  if (!drawers.empty()) state.back() = physics.joint_qpos(drawer_joint(drawers.front()));
  return state;
}

std::string describe_goal(const Task& task, const Goal& goal) {
  switch (goal.kind) {
    case GoalKind::DrawerOpen:
      return fmt::format("{} opening > {} m", goal.object, drawer_open_threshold);
    case GoalKind::DrawerClosed:
      return fmt::format("{} opening < {} m", goal.object, drawer_closed_threshold);
    case GoalKind::Lift:
      return fmt::format("{} held in the fingers, > {} m above its rest", goal.object, lift_height);
    case GoalKind::Near:
    case GoalKind::Place:
      break;
  }
  const std::string object = goal.object == "@" ? "the named cube" : goal.object;
  const char* released = task.release_required ? ", released" : "";
  if (goal.kind == GoalKind::Near) {
    return fmt::format("{} resting within {} m of the {}'s edge, the {} standing{}", object,
                       near_gap, goal.target, goal.target, released);
  }
  if (is_drawer(task, goal.target)) {
    return fmt::format("{} inside the {}{}", object, goal.target, released);
  }
  switch (object_kind(task, goal.target)) {
    case ObjectKind::Bowl:
    case ObjectKind::Basket:
      return fmt::format("{} inside the {}{}", object, goal.target, released);
    case ObjectKind::Plate:
    case ObjectKind::Towel:
      return fmt::format("{} resting on the {}{}", object, goal.target, released);
    default:
      return fmt::format("{} stacked on {}{}", object, goal.target, released);
  }
}

}  // namespace avla::sim
