// visual variants (SimplerEnv's variant aggregation): each one changes the pixels, none changes a
// task's physics (look variants) or its success rules and experts (distractors), and eval reports
// the mean over variants.
#include "sim/variants.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "eval/evaluate.h"
#include "sim/collect.h"
#include "sim/env.h"
#include "sim_test_util.h"
#include "test_util.h"

namespace avla::sim {
namespace {

using test::differing_bytes;

EnvConfig config_with(const std::string& variant, bool render) {
  EnvConfig c;
  c.image_size = 96;
  c.render = render;
  c.variant = variant;
  return c;
}

TEST(Variants, EachChangesTheMainCameraImage) {
  ASSERT_EQ(visual_variants().size(), 8u);
  for (const char* name : {"goal/cube_in_bowl", "bridge/put_carrot_on_plate"}) {
    const std::string id = name;
    const Task& task = find_task(id.substr(0, id.find('/')), id.substr(id.find('/') + 1));
    Env plain(config_with("", true));
    const SimObservation base = plain.reset(task, 2);
    for (const VisualVariant& v : visual_variants()) {
      Env env(config_with(v.name, true));
      const SimObservation obs = env.reset(task, 2);
      // a look variant changes at least 2 % of the image's bytes; two distractors (a few pixels
      // each at 96x96) at least 0.3 %
      const size_t bytes = base.agentview_rgb.size();
      EXPECT_GT(differing_bytes(obs.agentview_rgb, base.agentview_rgb),
                static_cast<int>(v.distractors > 0 ? bytes * 3 / 1000 : bytes / 50))
          << name << " " << v.name;
    }
  }
}

// a look variant renders differently and nothing else: the expert's episode is step for step the
// same physics
TEST(Variants, LookVariantsLeaveThePhysicsUnchanged) {
  const Task& task = find_task("spatial", "left_cube_on_plate");
  Env plain(config_with("", false));
  const ExpertEpisode base = run_expert(plain, task, 1, false);
  const std::vector<double> base_state = plain.physics().state();
  ASSERT_TRUE(base.success);
  for (const VisualVariant& v : visual_variants()) {
    if (v.distractors > 0) continue;
    Env env(config_with(v.name, false));
    const ExpertEpisode e = run_expert(env, task, 1, false);
    EXPECT_EQ(e.steps, base.steps) << v.name;
    EXPECT_EQ(env.physics().state(), base_state) << v.name;
  }
}

// distractors stand clear of the task's objects and of the cabinet, every expert still succeeds
// with them on the table, and zero actions still never do
TEST(Variants, DistractorsKeepExpertsAndSuccessRules) {
  const VisualVariant& v = find_variant("distractors");
  ASSERT_EQ(v.distractors, 2);
  Env env(config_with("distractors", false));
  int tasks = 0;
  for (const auto& suite : suite_names()) {
    for (const Task& task : suite_tasks(suite)) {
      ++tasks;
      env.reset(task, 0);
      const Physics& p = env.physics();
      for (int d = 0; d < 2; ++d) {
        const std::string name = "distractor_" + std::to_string(d);
        const Vec3 at = p.body_pose(name).pos;
        for (const ObjectSpec& o : task.scene.objects) {
          EXPECT_GT(distance_xy(at, p.body_pose(o.name).pos), footprint_radius(o.kind) + 0.03)
              << task.name << " " << name << " " << o.name;
        }
      }
      const ExpertEpisode e = run_expert(env, task, 0, false);
      EXPECT_TRUE(e.success) << suite << "/" << task.name;
    }
  }
  EXPECT_EQ(tasks, 53);
  // a distractor is of a class the scene does not hold: goal's scene has a red cube, so its
  // distractors are a pink cylinder and a cyan cube
  const SceneSpec spec = variant_scene(find_task("goal", "cube_in_bowl"), v);
  ASSERT_EQ(spec.objects.size(), 6u);
  EXPECT_EQ(spec.objects[4].colour + "_" + kind_name(spec.objects[4].kind), "pink_cylinder");
  EXPECT_EQ(spec.objects[5].colour + "_" + kind_name(spec.objects[5].kind), "cyan_cube");
  const Task& task = find_task("object", "red_cube_in_basket");
  env.reset(task, 4);
  for (int step = 0; step < 40; ++step) EXPECT_FALSE(env.step(std::vector<double>(7, 0.0)).success);
}

TEST(Variants, UnknownNameIsAnErrorListingThem) {
  test::expect_error([] { Env env(config_with("foggy", false)); },
                     {"[variants]", "unknown visual variant 'foggy'", "light_dim", "distractors"});
  EXPECT_EQ(find_variant("").name, "none");
  EXPECT_EQ(find_variant("none").distractors, 0);
}

// eval --variants: every variant's report and the mean of their rates
TEST(Variants, EvalAggregatesTheMeanOverVariants) {
  EvalOptions o;
  o.suite = "bridge";
  o.tasks = {"stack_green_block_on_yellow_block"};
  o.episodes = 1;
  o.resolution = 16;
  o.scripted = "expert";
  const VariantAggregate a = evaluate_variants(o);
  ASSERT_EQ(a.reports.size(), visual_variants().size());
  EXPECT_EQ(a.reports[0].variant, "light_dim");
  EXPECT_EQ(a.successes, 8);
  EXPECT_DOUBLE_EQ(a.mean_rate, 1.0);
  const nlohmann::json j = to_json(a);
  EXPECT_EQ(j["variants"].size(), 8u);
  EXPECT_EQ(j["variants"][7]["variant"], "distractors");
  EXPECT_EQ(j["variant_aggregation"]["episodes"], 8);
  o.scripted = "zero";
  EXPECT_DOUBLE_EQ(evaluate_variants(o).mean_rate, 0.0);
}

}  // namespace
}  // namespace avla::sim
