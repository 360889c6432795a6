#include "sim/tasks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "sim/cabinet.h"
#include "util/error.h"

namespace avla::sim {

namespace {

// where objects may stand: in reach, inside the table, clear of the robot's base
constexpr Region open_table = {-0.27, 0.08, -0.26, 0.26};
// LIBERO places each task's objects in small fixed init regions (a per-task layout plus noise),
// not anywhere on the table; our open-table tasks do the same around a per-task home layout
constexpr double libero_jitter = 0.025;

ObjectSpec obj(const std::string& name, ObjectKind kind, const std::string& colour) {
  return {name, kind, colour};
}

Goal place(const std::string& object, const std::string& target) {
  return {GoalKind::Place, object, target};
}

// ---- spatial: two identical red cubes, a bowl and a plate; the instruction picks a cube by a
// relation that each sampled layout decides
std::vector<Task> spatial_suite() {
  SceneSpec scene;
  scene.objects = {obj("cube_a", ObjectKind::Cube, "red"), obj("cube_b", ObjectKind::Cube, "red"),
                   obj("bowl", ObjectKind::Bowl, "white"),
                   obj("plate", ObjectKind::Plate, "black")};
  struct Row {
    const char* name;
    const char* instruction;
    Relation relation;
    const char* anchor;
    const char* target;
  };
  const Row rows[] = {
      {"left_cube_on_plate", "pick up the red cube on the left and place it on the plate",
       Relation::Left, "", "plate"},
      {"right_cube_on_plate", "pick up the red cube on the right and place it on the plate",
       Relation::Right, "", "plate"},
      {"near_cube_in_bowl", "pick up the red cube closest to the robot and place it in the bowl",
       Relation::NearRobot, "", "bowl"},
      {"far_cube_in_bowl", "pick up the red cube farthest from the robot and place it in the bowl",
       Relation::FarRobot, "", "bowl"},
      {"cube_next_to_bowl_on_plate",
       "pick up the red cube next to the bowl and place it on the plate", Relation::NearestTo,
       "bowl", "plate"},
      {"cube_next_to_plate_in_bowl",
       "pick up the red cube next to the plate and place it in the bowl", Relation::NearestTo,
       "plate", "bowl"},
      {"cube_away_from_plate_on_plate",
       "pick up the red cube farther from the plate and place it on the plate",
       Relation::FarthestFrom, "plate", "plate"},
      {"left_cube_in_bowl", "pick up the red cube on the left and place it in the bowl",
       Relation::Left, "", "bowl"},
      {"right_cube_in_bowl", "pick up the red cube on the right and place it in the bowl",
       Relation::Right, "", "bowl"},
      {"near_cube_on_plate", "pick up the red cube closest to the robot and place it on the plate",
       Relation::NearRobot, "", "plate"},
  };
  std::vector<Task> tasks;
  for (const auto& r : rows) {
    Task t;
    t.suite = "spatial";
    t.name = r.name;
    t.instruction = r.instruction;
    t.scene = scene;
    t.goals = {place("@", r.target)};
    t.selector = {r.relation, {"cube_a", "cube_b"}, r.anchor};
    t.regions = std::vector<Region>(scene.objects.size(), open_table);
    t.home_jitter = libero_jitter;
    t.max_steps = 220;
    tasks.push_back(t);
  }
  return tasks;
}

// ---- object: a basket and four objects; the instruction names the one to put in the basket
std::vector<Task> object_suite() {
  const std::vector<std::pair<ObjectKind, std::string>> pool = {
      {ObjectKind::Cube, "red"},        {ObjectKind::Cube, "green"},
      {ObjectKind::Cube, "blue"},       {ObjectKind::Cube, "yellow"},
      {ObjectKind::Cube, "orange"},     {ObjectKind::Cylinder, "red"},
      {ObjectKind::Cylinder, "green"},  {ObjectKind::Cylinder, "blue"},
      {ObjectKind::Cylinder, "purple"}, {ObjectKind::Cylinder, "yellow"},
  };
  auto name_of = [&](size_t i) { return pool[i].second + "_" + kind_name(pool[i].first); };
  std::vector<Task> tasks;
  for (size_t i = 0; i < pool.size(); ++i) {
    Task t;
    t.suite = "object";
    t.name = name_of(i) + "_in_basket";
    t.instruction = fmt::format("pick up the {} {} and place it in the basket", pool[i].second,
                                kind_name(pool[i].first));
    t.scene.objects.push_back(obj("basket", ObjectKind::Basket, "brown"));
    for (size_t k : {i, (i + 3) % pool.size(), (i + 5) % pool.size(), (i + 7) % pool.size()}) {
      t.scene.objects.push_back(obj(name_of(k), pool[k].first, pool[k].second));
    }
    t.goals = {place(name_of(i), "basket")};
    t.regions = std::vector<Region>(t.scene.objects.size(), open_table);
    t.regions[0] = {-0.22, 0.0, -0.2, 0.2};  // the basket stays in easy reach
    t.home_jitter = libero_jitter;
    t.max_steps = 280;
    tasks.push_back(t);
  }
  return tasks;
}

// the goal scene: one layout (small jitter) with a cabinet, a bowl, a plate, a cube, a cylinder
SceneSpec goal_scene() {
  SceneSpec scene;
  scene.cabinet = Cabinet::OneDrawer;
  scene.objects = {obj("bowl", ObjectKind::Bowl, "white"), obj("plate", ObjectKind::Plate, "black"),
                   obj("red_cube", ObjectKind::Cube, "red"),
                   obj("blue_cylinder", ObjectKind::Cylinder, "blue")};
  return scene;
}

std::vector<Region> goal_regions() {
  auto around = [](double x, double y) { return Region{x - 0.03, x + 0.03, y - 0.03, y + 0.03}; };
  return {around(-0.2, -0.16), around(0.0, -0.17), around(-0.1, 0.0), around(-0.24, 0.01)};
}

Task goal_task(const std::string& suite, const std::string& name, const std::string& instruction,
               std::vector<Goal> goals, double drawer_start, int max_steps) {
  Task t;
  t.suite = suite;
  t.name = name;
  t.instruction = instruction;
  t.scene = goal_scene();
  t.goals = std::move(goals);
  t.regions = goal_regions();
  t.drawer_start = drawer_start;
  t.max_steps = max_steps;
  return t;
}

std::vector<Task> goal_suite() {
  const Goal open{GoalKind::DrawerOpen, "drawer", ""}, closed{GoalKind::DrawerClosed, "drawer", ""};
  return {
      goal_task("goal", "open_drawer", "open the drawer of the cabinet", {open}, 0.0, 300),
      goal_task("goal", "close_drawer", "close the drawer of the cabinet", {closed}, 0.13, 300),
      goal_task("goal", "cube_in_bowl", "put the red cube in the bowl", {place("red_cube", "bowl")},
                0.0, 300),
      goal_task("goal", "cube_on_plate", "put the red cube on the plate",
                {place("red_cube", "plate")}, 0.0, 300),
      goal_task("goal", "cylinder_in_bowl", "put the blue cylinder in the bowl",
                {place("blue_cylinder", "bowl")}, 0.0, 300),
      goal_task("goal", "cylinder_on_plate", "put the blue cylinder on the plate",
                {place("blue_cylinder", "plate")}, 0.0, 300),
      goal_task("goal", "stack_cube_on_cylinder", "stack the red cube on the blue cylinder",
                {place("red_cube", "blue_cylinder")}, 0.0, 300),
      goal_task("goal", "stack_cylinder_on_cube", "stack the blue cylinder on the red cube",
                {place("blue_cylinder", "red_cube")}, 0.0, 300),
  };
}

// ---- long: two sub-goals in sequence; both must hold at the end
std::vector<Task> long_suite() {
  const Goal open{GoalKind::DrawerOpen, "drawer", ""}, closed{GoalKind::DrawerClosed, "drawer", ""};
  std::vector<Task> tasks = {
      goal_task("long", "open_drawer_then_cube_in_bowl",
                "open the drawer and put the red cube in the bowl",
                {open, place("red_cube", "bowl")}, 0.0, 520),
      goal_task("long", "cube_in_bowl_and_cylinder_on_plate",
                "put the red cube in the bowl and put the blue cylinder on the plate",
                {place("red_cube", "bowl"), place("blue_cylinder", "plate")}, 0.0, 520),
      goal_task("long", "cube_on_plate_then_close_drawer",
                "put the red cube on the plate and close the drawer",
                {place("red_cube", "plate"), closed}, 0.13, 520),
      goal_task("long", "cylinder_in_bowl_then_open_drawer",
                "put the blue cylinder in the bowl and open the drawer",
                {place("blue_cylinder", "bowl"), open}, 0.0, 520),
      goal_task("long", "open_drawer_then_cylinder_on_plate",
                "open the drawer and put the blue cylinder on the plate",
                {open, place("blue_cylinder", "plate")}, 0.0, 520),
      goal_task("long", "cube_on_plate_and_cylinder_in_bowl",
                "put the red cube on the plate and put the blue cylinder in the bowl",
                {place("red_cube", "plate"), place("blue_cylinder", "bowl")}, 0.0, 520),
  };
  // two objects into a basket
  auto basket_task = [](const std::string& name, const std::string& instruction,
                        const ObjectSpec& first, const ObjectSpec& second) {
    Task t;
    t.suite = "long";
    t.name = name;
    t.instruction = instruction;
    t.scene.objects = {obj("basket", ObjectKind::Basket, "brown"), first, second,
                       obj("green_cylinder", ObjectKind::Cylinder, "green"),
                       obj("orange_cube", ObjectKind::Cube, "orange")};
    t.goals = {place(first.name, "basket"), place(second.name, "basket")};
    t.regions = std::vector<Region>(t.scene.objects.size(), open_table);
    t.regions[0] = {-0.22, 0.0, -0.2, 0.2};
    t.home_jitter = libero_jitter;
    t.max_steps = 520;
    return t;
  };
  tasks.push_back(basket_task(
      "red_and_blue_cubes_in_basket", "put both the red cube and the blue cube in the basket",
      obj("red_cube", ObjectKind::Cube, "red"), obj("blue_cube", ObjectKind::Cube, "blue")));
  tasks.push_back(basket_task("yellow_cube_and_purple_cylinder_in_basket",
                              "put both the yellow cube and the purple cylinder in the basket",
                              obj("yellow_cube", ObjectKind::Cube, "yellow"),
                              obj("purple_cylinder", ObjectKind::Cylinder, "purple")));
  return tasks;
}

// ---- bridge: SimplerEnv's four WidowX tasks (the paper's Table 2 and its Table 4 ablation) on
// our arm, seen from Bridge's over-the-shoulder camera with no wrist camera. each scene holds the
// source and the target, anywhere in the reach region with a random yaw for the lying objects;
// success needs the object released on its target, and eval records grasp success beside it
std::vector<Task> bridge_suite() {
  struct Row {
    const char* name;
    const char* instruction;
    ObjectSpec source, target;
  };
  const Row rows[] = {
      {"put_spoon_on_towel", "put the spoon on the towel",
       obj("spoon", ObjectKind::Spoon, "silver"), obj("towel", ObjectKind::Towel, "cyan")},
      {"put_carrot_on_plate", "put carrot on plate", obj("carrot", ObjectKind::Carrot, "orange"),
       obj("plate", ObjectKind::Plate, "white")},
      {"stack_green_block_on_yellow_block", "stack the green block on the yellow block",
       obj("green_block", ObjectKind::Cube, "green"),
       obj("yellow_block", ObjectKind::Cube, "yellow")},
      {"put_eggplant_in_basket", "put eggplant into yellow basket",
       obj("eggplant", ObjectKind::Eggplant, "purple"),
       obj("basket", ObjectKind::Basket, "yellow")},
  };
  constexpr Region reach = {-0.27, 0.05, -0.24, 0.24};
  std::vector<Task> tasks;
  for (const auto& r : rows) {
    Task t;
    t.suite = "bridge";
    t.name = r.name;
    t.instruction = r.instruction;
    t.scene.objects = {r.source, r.target};
    t.scene.rig = CameraRig::BridgeShoulder;
    t.goals = {place(r.source.name, r.target.name)};
    t.regions = {reach, reach};
    t.max_steps = 240;
    t.release_required = true;
    tasks.push_back(t);
  }
  return tasks;
}

// ---- fractal: SimplerEnv's Google-robot tasks (the paper's Table 3) on our arm, seen from a head
// camera with no wrist camera: pick coke can, move near, open or close a drawer, and open the top
// drawer and put the apple in it
std::vector<Task> fractal_suite() {
  constexpr Region reach = {-0.25, 0.05, -0.22, 0.22};
  auto task = [&](const std::string& name, const std::string& instruction,
                  std::vector<ObjectSpec> objects, Goal goal) {
    Task t;
    t.suite = "fractal";
    t.name = name;
    t.instruction = instruction;
    t.scene.objects = std::move(objects);
    t.scene.rig = CameraRig::GoogleHead;
    t.goals = {std::move(goal)};
    t.regions = std::vector<Region>(t.scene.objects.size(), reach);
    t.max_steps = 200;
    return t;
  };
  const ObjectSpec apple = obj("apple", ObjectKind::Apple, "red");  // on the counter beside it
  const Goal lift{GoalKind::Lift, "coke_can", ""};
  // pick coke can, in SimplerEnv's three poses; one instruction for all three, as there
  std::vector<Task> tasks;
  Task horizontal = task("pick_coke_can_horizontal", "pick coke can",
                         {obj("coke_can", ObjectKind::LyingCan, "red"), apple}, lift);
  tasks.push_back(horizontal);  // lying across the view (yaw pi/2 +- 0.5)
  Task vertical = task("pick_coke_can_vertical", "pick coke can",
                       {obj("coke_can", ObjectKind::LyingCan, "red"), apple}, lift);
  vertical.lying_yaw = 0.0;  // lying along the view, pointing at the robot
  tasks.push_back(vertical);
  tasks.push_back(task("pick_coke_can_standing", "pick coke can",
                       {obj("coke_can", ObjectKind::Can, "red"), apple}, lift));
  // move near: one object carried next to another and set down, the third left standing. the
  // moved object starts on the right, its target on the left, so that they never start near
  // (>= 16 cm apart against a success distance of at most 12.5 cm); the third anywhere
  constexpr Region right = {-0.25, 0.05, -0.22, -0.08}, left = {-0.25, 0.05, 0.08, 0.22};
  const ObjectSpec sponge = obj("sponge", ObjectKind::Cube, "yellow");
  const ObjectSpec can = obj("coke_can", ObjectKind::Can, "red");
  const ObjectSpec bottle = obj("blue_plastic_bottle", ObjectKind::Cylinder, "blue");
  struct MoveNear {
    const char* name;
    const char* instruction;
    ObjectSpec moved, target, other;
  };
  for (const MoveNear& m : {
           MoveNear{"move_apple_near_sponge", "move apple near sponge", apple, sponge, can},
           MoveNear{"move_sponge_near_coke_can", "move sponge near coke can", sponge, can, bottle},
           MoveNear{"move_blue_plastic_bottle_near_apple", "move blue plastic bottle near apple",
                    bottle, apple, sponge},
       }) {
    Task t = task(m.name, m.instruction, {m.moved, m.target, m.other},
                  {GoalKind::Near, m.moved.name, m.target.name});
    t.regions = {right, left, reach};
    t.release_required = true;
    tasks.push_back(t);
  }
  // the drawers of a three-drawer cabinet in front of the robot. the grip starts 8 cm above home,
  // clear of the cabinet's top and of an open drawer; SimplerEnv varies the robot's pose against
  // the cabinet, here each episode moves that start by up to 3 cm. a drawer to close starts open
  // by 13 cm, the others shut
  auto drawer_task = [&](const std::string& name, const std::string& instruction,
                         std::vector<ObjectSpec> objects, std::vector<Goal> goals,
                         double drawer_start, int max_steps) {
    Task t = task(name, instruction, std::move(objects), {});
    t.goals = std::move(goals);
    t.scene.cabinet = Cabinet::ThreeDrawers;
    t.drawer_start = drawer_start;
    t.arm_start_offset = {0.0, 0.0, 0.08};
    t.arm_start_jitter = 0.03;
    t.max_steps = max_steps;
    return t;
  };
  for (const char* level : {"top", "middle", "bottom"}) {
    const std::string drawer = std::string(level) + "_drawer";
    tasks.push_back(drawer_task(fmt::format("open_{}", drawer),
                                fmt::format("open {} drawer", level), {},
                                {{GoalKind::DrawerOpen, drawer, ""}}, 0.0, 160));
  }
  for (const char* level : {"top", "middle", "bottom"}) {
    const std::string drawer = std::string(level) + "_drawer";
    tasks.push_back(drawer_task(fmt::format("close_{}", drawer),
                                fmt::format("close {} drawer", level), {},
                                {{GoalKind::DrawerClosed, drawer, ""}}, 0.13, 160));
  }
  // the apple on the table on the cabinet's right, in front of its face; it ends inside the
  // opened top drawer, released
  Task apple_task = drawer_task(
      "open_top_drawer_and_place_apple", "open top drawer and place apple into top drawer", {apple},
      {{GoalKind::DrawerOpen, "top_drawer", ""}, place("apple", "top_drawer")}, 0.0, 300);
  apple_task.regions = {{-0.25, -0.12, -0.23, -0.19}};
  apple_task.release_required = true;
  tasks.push_back(apple_task);
  return tasks;
}

const std::map<std::string, std::vector<Task>>& all_suites() {
  static const std::map<std::string, std::vector<Task>> suites = {
      {"spatial", spatial_suite()}, {"object", object_suite()}, {"goal", goal_suite()},
      {"long", long_suite()},       {"bridge", bridge_suite()}, {"fractal", fractal_suite()},
  };
  return suites;
}

}  // namespace

bool moves_object(const Goal& goal) {
  return goal.kind == GoalKind::Place || goal.kind == GoalKind::Lift || goal.kind == GoalKind::Near;
}

int object_index(const Task& task, const std::string& name) {
  for (size_t i = 0; i < task.scene.objects.size(); ++i) {
    if (task.scene.objects[i].name == name) return static_cast<int>(i);
  }
  fail("sim", "task '{}' has no object '{}'", task.name, name);
}

uint64_t stable_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

const std::vector<std::string>& suite_names() {
  static const std::vector<std::string> names = {"spatial", "object", "goal",
                                                 "long",    "bridge", "fractal"};
  return names;
}

const std::vector<std::string>& libero_suite_names() {
  static const std::vector<std::string> names = {"spatial", "object", "goal", "long"};
  return names;
}

const std::vector<Task>& suite_tasks(const std::string& suite) {
  const auto it = all_suites().find(suite);
  AVLA_CHECK(it != all_suites().end(), "sim", "unknown suite '{}' (expected one of: {})", suite,
             fmt::join(suite_names(), ", "));
  return it->second;
}

const Task& find_task(const std::string& suite, const std::string& name) {
  for (const auto& t : suite_tasks(suite)) {
    if (t.name == name) return t;
  }
  std::string names;
  for (const auto& t : suite_tasks(suite)) names += (names.empty() ? "" : ", ") + t.name;
  fail("sim", "suite '{}' has no task '{}' (tasks: {})", suite, name, names);
}

std::vector<const Task*> select_tasks(const std::string& suite,
                                      const std::vector<std::string>& names) {
  std::vector<const Task*> tasks;
  if (names.empty()) {
    for (const auto& t : suite_tasks(suite)) tasks.push_back(&t);
  } else {
    for (const auto& n : names) tasks.push_back(&find_task(suite, n));
  }
  return tasks;
}

bool is_drawer(const Task& task, const std::string& name) {
  const auto& names = drawer_names(task.scene.cabinet);
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string task_drawer(const Task& task) {
  for (const Goal& g : task.goals) {
    const bool drawer_goal = g.kind == GoalKind::DrawerOpen || g.kind == GoalKind::DrawerClosed;
    if (drawer_goal && is_drawer(task, g.object)) return g.object;
    if (g.kind == GoalKind::Place && is_drawer(task, g.target)) return g.target;
  }
  const auto& names = drawer_names(task.scene.cabinet);
  return names.empty() ? "" : names.front();
}

ObjectKind object_kind(const Task& task, const std::string& name) {
  return task.scene.objects[object_index(task, name)].kind;
}

}  // namespace avla::sim
