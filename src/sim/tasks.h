// the suites: four that mirror LIBERO's (spatial, object, goal, long) and bridge, which mirrors
// SimplerEnv's WidowX tasks after Bridge-V2 training. each task has a language
// instruction, a scene, regions its layouts are drawn from (sim/layout.h), goals whose conjunction
// is the success predicate (sim/goals.h), and a step limit. this file is the catalog.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sim/physics.h"
#include "sim/scene.h"

namespace avla::sim {

enum class GoalKind {
  Place,  // object ends inside/on target (bowl, basket: inside; plate: on; cube/cylinder: stacked)
  DrawerOpen,    // the drawer goal.object names pulled out past drawer_open_threshold
  DrawerClosed,  // that drawer pushed in below drawer_closed_threshold
  Lift,          // object held between both fingers at least lift_height above its rest height
  Near,  // object resting on the table within near_gap of the target's edge, the target standing
};

constexpr double lift_height = 0.02;  // SimplerEnv's "lifted" for its pick tasks
// move-near: the largest gap between the footprints of the moved object and its target
constexpr double near_gap = 0.05;

constexpr double drawer_open_threshold = 0.1;
constexpr double drawer_closed_threshold = 0.01;

struct Goal {
  GoalKind kind = GoalKind::Place;
  std::string object;  // "@" = the object the task's selector picks at reset; a drawer's name for
                       // the drawer goals
  std::string target;  // Place: a receptacle, an object to stack on, or a drawer (put inside it)
};
// the goal moves goal.object with the gripper (Place, Lift): the expert picks it, and eval
// records whether it was grasped
bool moves_object(const Goal& goal);

// spatial tasks name their object by a relation that the layout decides
enum class Relation { None, Left, Right, NearRobot, FarRobot, NearestTo, FarthestFrom };

struct Selector {
  Relation relation = Relation::None;
  std::vector<std::string> candidates;
  std::string anchor;  // for NearestTo / FarthestFrom
};

struct Region {
  double x0, x1, y0, y1;
};

struct Task {
  std::string suite;
  std::string name;
  std::string instruction;
  SceneSpec scene;
  std::vector<Goal> goals;  // success = every goal holds at the same step
  Selector selector;
  std::vector<Region> regions;  // per scene object: where its centre may be placed
  // > 0: a fixed per-task home layout is drawn once from the regions, and each episode moves every
  // object by at most this much (m) in x and y around its home, as LIBERO's per-task init regions
  // do; 0: every episode draws from the whole regions
  double home_jitter = 0.0;
  bool random_yaw = true;       // cubes get a random yaw in [-0.4, 0.4]
  double lying_yaw = M_PI / 2;  // lying objects: yaw lying_yaw +- 0.5 (pi/2: across the view)
  double drawer_start = 0.0;    // initial opening of task_drawer(); the other drawers start shut
  // where the grip starts against home (m), and > 0: each episode moves that start up to
  // arm_start_jitter along x, y and z, drawn by seed (SimplerEnv varies the robot's pose against
  // its cabinet); 0: every episode starts at the same point
  Vec3 arm_start_offset{};
  double arm_start_jitter = 0.0;
  int max_steps = 300;
  // success also needs every placed object out of the fingers, as SimplerEnv scores its WidowX
  // tasks (an object held on its target does not count until released)
  bool release_required = false;
};

// every suite: the four that mirror LIBERO, then bridge (SimplerEnv's WidowX tasks) and fractal
// (its Google-robot tasks)
const std::vector<std::string>& suite_names();
// the four that mirror LIBERO (spatial, object, goal, long): two cameras, the corpus default
const std::vector<std::string>& libero_suite_names();
const std::vector<Task>& suite_tasks(const std::string& suite);  // throws on unknown suite
const Task& find_task(const std::string& suite, const std::string& name);
// the named tasks of a suite, or every task when names is empty
std::vector<const Task*> select_tasks(const std::string& suite,
                                      const std::vector<std::string>& names);

// whether name is one of the drawers of the task's cabinet
bool is_drawer(const Task& task, const std::string& name);
// the drawer a task is about: the one its first drawer goal (or drawer place target) names, else
// its cabinet's first drawer ("" without a cabinet)
std::string task_drawer(const Task& task);

// index and kind of a scene object by name (throw when the task's scene lacks it)
int object_index(const Task& task, const std::string& name);
ObjectKind object_kind(const Task& task, const std::string& name);

// stable 64-bit hash of a string (FNV-1a) for seeding
uint64_t stable_hash(const std::string& text);

}  // namespace avla::sim
