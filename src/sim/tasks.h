// the four suites (spatial, object, goal, long), mirroring LIBERO's: each task has a language
// instruction, a scene, a seeded layout sampler, goals whose conjunction is the success predicate,
// and a step limit.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sim/physics.h"
#include "sim/scene.h"

namespace avla::sim {

enum class GoalKind {
  Place,  // object ends inside/on target (bowl, basket: inside; plate: on; cube/cylinder: stacked)
  DrawerOpen,    // drawer pulled out past drawer_open_threshold
  DrawerClosed,  // drawer pushed in below drawer_closed_threshold
};

constexpr double drawer_open_threshold = 0.1;
constexpr double drawer_closed_threshold = 0.01;

struct Goal {
  GoalKind kind = GoalKind::Place;
  std::string object;  // "@" = the object the task's selector picks at reset
  std::string target;
};

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
  bool random_yaw = true;     // cubes get a random yaw in [-0.4, 0.4]
  double drawer_start = 0.0;  // initial drawer opening (cabinet scenes)
  int max_steps = 300;
};

// one sampled episode: object poses and goals with the selector resolved
struct Layout {
  std::vector<Pose> object_poses;  // per task.scene.objects
  std::vector<Goal> goals;
};

const std::vector<std::string>& suite_names();
const std::vector<Task>& suite_tasks(const std::string& suite);  // throws on unknown suite
const Task& find_task(const std::string& suite, const std::string& name);
// the named tasks of a suite, or every task when names is empty
std::vector<const Task*> select_tasks(const std::string& suite,
                                      const std::vector<std::string>& names);

// a deterministic layout for (task, seed); rejection-samples until objects do not overlap and the
// selector's relation is unambiguous
Layout sample_layout(const Task& task, uint64_t seed);
// the task's fixed home layout (task.home_jitter > 0): drawn once from its name, with room for the
// jitter so that every jittered episode keeps its gaps and an unambiguous relation
Layout home_layout(const Task& task);

// predicates on the current physics state
bool goal_satisfied(const Physics& physics, const Task& task, const Goal& goal);
// the Place pairs of a layout's scene that none of its goals asks for: every scene object that is
// not a receptacle, in or on every receptacle (bowls, plates, baskets and the goals' targets).
// env counts the ones that held as wrong placements (wrong object, wrong target)
std::vector<Goal> unrequested_placements(const Task& task, const Layout& layout);
std::string describe_goal(const Task& task, const Goal& goal);  // for docs/TASKS.md

// the privileged object state of the current physics state: object_state_dim numbers laid out as
// data/object_state.h says (object positions in scene order, zero-padded, then the drawer opening)
std::vector<double> object_state(const Physics& physics, const Task& task);

// kind of a scene object by name (throws when the task's scene lacks it)
ObjectKind object_kind(const Task& task, const std::string& name);

// stable 64-bit hash of a string (FNV-1a) for seeding
uint64_t stable_hash(const std::string& text);

}  // namespace avla::sim
