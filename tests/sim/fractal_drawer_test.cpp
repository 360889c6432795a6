// the fractal suite's drawer tasks (SimplerEnv's Google-robot "open/close top/middle/bottom
// drawer" and "open top drawer and place apple into top drawer") on a three-drawer cabinet: each
// drawer slides on its own joint, the experts succeed on at least 95 % of seeds and leave the
// other drawers shut, the predicates hold where they should and not elsewhere, the privileged
// state carries every drawer, and the episodes vary the arm's start.
#include <gtest/gtest.h>

#include <cmath>

#include "data/object_state.h"
#include "sim/cabinet.h"
#include "sim/collect.h"
#include "sim/env.h"
#include "sim/goals.h"
#include "sim_test_util.h"
#include "test_util.h"

namespace avla::sim {
namespace {

using test::no_render;

std::vector<const Task*> drawer_tasks() {
  std::vector<const Task*> tasks;
  for (const Task& t : suite_tasks("fractal")) {
    if (t.scene.cabinet == Cabinet::ThreeDrawers) tasks.push_back(&t);
  }
  return tasks;
}

double opening(const Physics& p, const std::string& drawer) {
  return p.joint_qpos(drawer_joint(drawer));
}

TEST(FractalDrawers, SevenSimplerEnvTasksOnAThreeDrawerCabinet) {
  EXPECT_EQ(suite_tasks("fractal").size(), 13u);  // 3 pick, 3 move-near, 6 drawer, 1 apple
  std::vector<std::string> instructions;
  for (const Task* t : drawer_tasks()) {
    instructions.push_back(t->instruction);
    EXPECT_EQ(t->scene.rig, CameraRig::GoogleHead) << t->name;
    EXPECT_EQ(t->scene.n_camera(), 1) << t->name;
  }
  // SimplerEnv's own instructions
  EXPECT_EQ(instructions, (std::vector<std::string>{
                              "open top drawer", "open middle drawer", "open bottom drawer",
                              "close top drawer", "close middle drawer", "close bottom drawer",
                              "open top drawer and place apple into top drawer"}));
  const Task& apple = find_task("fractal", "open_top_drawer_and_place_apple");
  ASSERT_EQ(apple.goals.size(), 2u);
  EXPECT_EQ(apple.goals[0].kind, GoalKind::DrawerOpen);
  EXPECT_EQ(apple.goals[1].target, "top_drawer");
  EXPECT_TRUE(apple.release_required);
  EXPECT_EQ(task_drawer(find_task("fractal", "close_middle_drawer")), "middle_drawer");
  EXPECT_EQ(task_drawer(apple), "top_drawer");
  EXPECT_EQ(task_drawer(find_task("goal", "cube_in_bowl")), "drawer");
  EXPECT_EQ(task_drawer(find_task("fractal", "pick_coke_can_standing")), "");

  // each drawer on its own joint: opening one moves that body alone, by the opening, toward the
  // robot; the three handles stand at three heights and three places across
  Env env(no_render());
  env.reset(find_task("fractal", "open_top_drawer"), 0);
  Physics& p = env.physics();
  const auto& names = drawer_names(Cabinet::ThreeDrawers);
  ASSERT_EQ(names.size(), 3u);
  std::vector<Vec3> shut;
  for (const auto& d : names) shut.push_back(p.body_pose(d).pos);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(shut[k][0], geom::chest_pos[0] - geom::chest_depth, 1e-9) << names[k];
    if (k > 0) {
      EXPECT_NEAR(shut[k - 1][2] - shut[k][2], geom::chest_drawer_height, 1e-9);  // top first
      EXPECT_GT(std::abs(handle_offset(Cabinet::ThreeDrawers, names[k - 1])[1] -
                         handle_offset(Cabinet::ThreeDrawers, names[k])[1]),
                0.07);
    }
  }
  p.set_joint_qpos(drawer_joint("middle_drawer"), 0.1);
  p.forward();
  for (size_t k = 0; k < 3; ++k) {
    const double moved = shut[k][0] - p.body_pose(names[k]).pos[0];
    EXPECT_NEAR(moved, names[k] == "middle_drawer" ? 0.1 : 0.0, 1e-9) << names[k];
  }
  test::expect_error([] { handle_offset(Cabinet::ThreeDrawers, "drawer"); },
                     {"[sim]", "no drawer 'drawer'"});
}

// open or close each drawer: the expert succeeds on at least 19 of 20 seeds, the named drawer
// starts shut (open) or open by 13 cm (close), the others start and stay shut
TEST(FractalDrawers, ExpertsOpenAndCloseEachDrawer) {
  Env env(no_render());
  for (const Task* task : drawer_tasks()) {
    if (task->goals.size() != 1) continue;
    const Goal& goal = task->goals[0];
    const bool open = goal.kind == GoalKind::DrawerOpen;
    int successes = 0;
    for (uint64_t seed = 0; seed < 20; ++seed) {
      env.reset(*task, seed);
      EXPECT_FALSE(goal_satisfied(env.physics(), *task, goal)) << task->name << seed;
      EXPECT_NEAR(opening(env.physics(), goal.object), open ? 0.0 : task->drawer_start, 0.01);
      const ExpertEpisode e = run_expert(env, *task, seed, false);
      successes += e.success;
      EXPECT_LT(e.steps, task->max_steps * 3 / 4) << task->name << seed;
      for (const auto& d : drawer_names(Cabinet::ThreeDrawers)) {
        if (d == goal.object) continue;
        EXPECT_LT(opening(env.physics(), d), drawer_closed_threshold) << task->name << seed << d;
      }
    }
    EXPECT_GE(successes, 19) << task->name;
  }
}

// open the top drawer, then the apple from the table into it, released: the expert succeeds and
// grasps the apple; the predicate by hand: inside counts, on the table, above the rim or in the
// middle drawer does not, and a shut drawer fails the first goal
TEST(FractalDrawers, AppleEndsInsideTheOpenedTopDrawer) {
  const Task& task = find_task("fractal", "open_top_drawer_and_place_apple");
  Env env(no_render());
  int successes = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    env.reset(task, seed);
    const ExpertEpisode e = run_expert(env, task, seed, false);
    successes += e.success;
    if (e.success) {
      EXPECT_EQ(env.objects_grasped(), 1) << seed;
      EXPECT_GT(opening(env.physics(), "top_drawer"), drawer_open_threshold) << seed;
    }
  }
  EXPECT_GE(successes, 19);

  env.reset(task, 0);
  Physics& p = env.physics();
  const Goal& open = task.goals[0];
  const Goal& in = task.goals[1];
  EXPECT_FALSE(goal_satisfied(p, task, open));
  EXPECT_FALSE(goal_satisfied(p, task, in));  // on the table
  p.set_joint_qpos(drawer_joint("top_drawer"), 0.14);
  p.forward();
  EXPECT_TRUE(goal_satisfied(p, task, open));
  const Vec3 drawer = p.body_pose("top_drawer").pos;
  const DrawerInterior inside = drawer_interior(Cabinet::ThreeDrawers);
  auto put_apple = [&](const std::string& into, double dz) {
    const Vec3 d = p.body_pose(into).pos;
    p.set_free_pose("apple", {{d[0] + 0.08, d[1], d[2] + inside.floor_z + dz}, yaw_quat(0.0)});
    p.forward();
  };
  put_apple("top_drawer", geom::apple_radius);
  EXPECT_TRUE(goal_satisfied(p, task, in));
  put_apple("top_drawer", inside.rim_z + 0.05);  // above the drawer, not in it
  EXPECT_FALSE(goal_satisfied(p, task, in));
  put_apple("middle_drawer", geom::apple_radius);  // in the drawer below
  EXPECT_FALSE(goal_satisfied(p, task, in));
  p.set_free_pose("apple", {{drawer[0] - 0.1, drawer[1], geom::apple_radius}, yaw_quat(0.0)});
  p.forward();  // on the table in front of it
  EXPECT_FALSE(goal_satisfied(p, task, in));
  EXPECT_EQ(describe_goal(task, in), "apple inside the top_drawer, released");
  EXPECT_EQ(describe_goal(task, open), "top_drawer opening > 0.1 m");
}

// the privileged state: the apple, then the three drawers' front faces (top, middle, bottom),
// zeros, and the top drawer's opening last
TEST(FractalDrawers, PrivilegedStateCarriesEveryDrawer) {
  const Task& task = find_task("fractal", "open_top_drawer_and_place_apple");
  Env env(no_render());
  env.reset(task, 2);
  Physics& p = env.physics();
  p.set_joint_qpos(drawer_joint("bottom_drawer"), 0.05);
  p.set_joint_qpos(drawer_joint("top_drawer"), 0.12);
  p.forward();
  const std::vector<double> s = object_state(p, task);
  ASSERT_EQ(s.size(), static_cast<size_t>(object_state_dim));
  const std::vector<std::string> bodies = {"apple", "top_drawer", "middle_drawer", "bottom_drawer"};
  for (size_t i = 0; i < bodies.size(); ++i) {
    for (int k = 0; k < 3; ++k) EXPECT_EQ(s[3 * i + k], p.body_pose(bodies[i]).pos[k]) << i;
  }
  // the openings read off the slots: shut x minus the slot's x
  const double shut_x = geom::chest_pos[0] - geom::chest_depth;
  EXPECT_NEAR(shut_x - s[3], 0.12, 1e-9);
  EXPECT_NEAR(shut_x - s[6], 0.0, 1e-9);
  EXPECT_NEAR(shut_x - s[9], 0.05, 1e-9);
  for (size_t i = 12; i + 1 < s.size(); ++i) EXPECT_EQ(s[i], 0.0) << i;
  EXPECT_NEAR(s.back(), 0.12, 1e-12);
}

// the arm starts 8 cm above home, moved by up to 3 cm per seed: seeds differ, the same seed
// repeats, and the other suites' layouts keep the grip at home
TEST(FractalDrawers, EpisodesVaryTheArmsStart) {
  const Task& task = find_task("fractal", "close_bottom_drawer");
  Env env(no_render());
  std::vector<Vec3> starts;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    const Layout l = sample_layout(task, seed);
    EXPECT_NEAR(l.grip_offset[2], 0.08, 0.03 + 1e-12);
    for (int i = 0; i < 2; ++i) EXPECT_LE(std::abs(l.grip_offset[i]), 0.03);
    const SimObservation o = env.reset(task, seed);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(o.ee_pos[i], home_grip_pos[i] + l.grip_offset[i], 0.01);
    starts.push_back(o.ee_pos);
  }
  for (size_t k = 1; k < starts.size(); ++k) {
    EXPECT_GT(std::hypot(starts[k][0] - starts[0][0], starts[k][1] - starts[0][1]), 1e-3) << k;
  }
  EXPECT_EQ(sample_layout(task, 4).grip_offset, sample_layout(task, 4).grip_offset);
  EXPECT_EQ(sample_layout(find_task("goal", "open_drawer"), 4).grip_offset, (Vec3{0, 0, 0}));
}

}  // namespace
}  // namespace avla::sim
