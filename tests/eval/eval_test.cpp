// evaluation: wilson intervals and auroc by hand; eval and eval-rater of a tiny checkpoint end
// to end through the binary, with valid JSON and a rollout video.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "data/dataset.h"
#include "data/libero_file.h"
#include "data/state_features.h"
#include "eval/evaluate.h"
#include "eval/paired.h"
#include "eval/rater_quality.h"
#include "eval/statistics.h"
#include "io/atomic_file.h"
#include "policy/policy.h"
#include "sim/env.h"
#include "sim/expert.h"
#include "sim/tasks.h"
#include "test_util.h"
#include "tiny_policy.h"
#include "train/rater_trainer.h"
#include "video_probe.h"

namespace avla {
namespace {

TEST(Statistics, WilsonIntervalsByHand) {
  // 5/10: centre (0.5 + 0.19208) / 1.38416 = 0.5, half 1.96 / 1.38416 * sqrt(0.025 + 0.009604)
  auto [lo, hi] = wilson_interval(5, 10);
  EXPECT_NEAR(lo, 0.2366, 1e-4);
  EXPECT_NEAR(hi, 0.7634, 1e-4);
  std::tie(lo, hi) = wilson_interval(0, 10);
  EXPECT_NEAR(lo, 0.0, 1e-12);
  EXPECT_NEAR(hi, 0.2775, 1e-4);
  std::tie(lo, hi) = wilson_interval(10, 10);
  EXPECT_NEAR(lo, 0.7225, 1e-4);
  EXPECT_NEAR(hi, 1.0, 1e-12);
  std::tie(lo, hi) = wilson_interval(0, 0);
  EXPECT_EQ(lo, 0.0);
  EXPECT_EQ(hi, 1.0);
  test::expect_error([] { wilson_interval(3, 2); }, {"[eval]"});
}

TEST(Statistics, AurocByHand) {
  // positives 0.4, 0.8; negatives 0.1, 0.35: pairs (0.4>0.1, 0.4>0.35, 0.8>0.1, 0.8>0.35) = 1
  EXPECT_DOUBLE_EQ(auroc({0.1, 0.4, 0.35, 0.8}, {false, true, false, true}), 1.0);
  // positive 0.3 beats 0.1, loses to 0.5; positive 0.5 ties 0.5 (half), beats 0.1: 2.5 / 4
  EXPECT_DOUBLE_EQ(auroc({0.3, 0.1, 0.5, 0.5}, {true, false, false, true}), 0.625);
  EXPECT_DOUBLE_EQ(auroc({0.9, 0.1}, {false, true}), 0.0);
  EXPECT_DOUBLE_EQ(auroc({0.2, 0.3}, {true, true}), 0.5);  // one class only
}

TEST(Statistics, McNemarExactByHand) {
  // 17 vs 6 discordant pairs: 2 * sum_{i<=6} C(23, i) / 2^23 = 0.0346897
  EXPECT_NEAR(mcnemar_exact_p(17, 6), 0.0346897, 1e-6);
  EXPECT_NEAR(mcnemar_exact_p(6, 17), 0.0346897, 1e-6);
  EXPECT_NEAR(mcnemar_exact_p(0, 5), 0.0625, 1e-12);        // 2 / 32
  EXPECT_NEAR(mcnemar_exact_p(10, 0), 0.001953125, 1e-12);  // 2 / 1024
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(4, 4), 1.0);
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(0, 0), 1.0);
}

TEST(Paired, CountsDiscordantEpisodesByTaskAndSeed) {
  auto report = [](const std::string& mode, std::vector<bool> success) {
    nlohmann::json eps = nlohmann::json::array();
    for (size_t i = 0; i < success.size(); ++i) {
      eps.push_back({{"task", i % 2 ? "b" : "a"},
                     {"seed", uint64_t{100} + i / 2},
                     {"success", static_cast<bool>(success[i])}});
    }
    return nlohmann::json{{"mode", mode}, {"episodes", eps}};
  };
  // episodes in another order on side b must still pair by (task, seed)
  nlohmann::json a = report("sfm", {true, false, true, false, false, true});
  nlohmann::json b = report("async", {true, true, false, true, false, true});
  std::reverse(b["episodes"].begin(), b["episodes"].end());
  const PairedComparison c = compare_evaluations(a, "a.json", b, "b.json");
  EXPECT_EQ(c.episodes, 6);
  EXPECT_EQ(c.successes_a, 3);
  EXPECT_EQ(c.successes_b, 4);
  EXPECT_EQ(c.both, 2);
  EXPECT_EQ(c.only_a, 1);
  EXPECT_EQ(c.only_b, 2);
  EXPECT_EQ(c.neither, 1);
  EXPECT_DOUBLE_EQ(c.p_value, 1.0);  // 1 vs 2 discordant
  EXPECT_NE(format_comparison(c).find("only A 1 | only B 2"), std::string::npos);
  nlohmann::json short_b = report("async", {true, true, false});
  test::expect_error([&] { compare_evaluations(a, "a.json", short_b, "b.json"); },
                     {"[compare]", "is not in b.json"});
  test::expect_error([&] { compare_evaluations(a, "a.json", nlohmann::json::object(), "x.json"); },
                     {"[compare]", "x.json", "not an eval report"});
}

TEST(Paired, VariantAggregationsPairByVariantTaskAndSeed) {
  auto report = [](const std::string& variant, std::vector<bool> success) {
    nlohmann::json eps = nlohmann::json::array();
    for (size_t i = 0; i < success.size(); ++i)
      eps.push_back({{"task", "a"}, {"seed", uint64_t{7} + i}, {"success", bool(success[i])}});
    return nlohmann::json{{"variant", variant}, {"episodes", eps}};
  };
  // the same seeds under two variants are different episodes: 4 pairs, not 2
  nlohmann::json a = {
      {"mode", "sfm"},
      {"variants", {report("light_dim", {true, false}), report("table_grey", {false, false})}}};
  nlohmann::json b = {
      {"mode", "async"},
      {"variants", {report("table_grey", {true, true}), report("light_dim", {true, true})}}};
  const PairedComparison c = compare_evaluations(a, "a.json", b, "b.json");
  EXPECT_EQ(c.episodes, 4);
  EXPECT_EQ(c.successes_a, 1);
  EXPECT_EQ(c.successes_b, 4);
  EXPECT_EQ(c.both, 1);
  EXPECT_EQ(c.only_a, 0);
  EXPECT_EQ(c.only_b, 3);
  // a variant aggregation against one scene's report does not pair up
  nlohmann::json plain = report("none", {true, false});
  plain["mode"] = "sfm";
  test::expect_error([&] { compare_evaluations(a, "a.json", plain, "p.json"); },
                     {"[compare]", "light_dim/a", "is not in p.json"});
  nlohmann::json nameless = {{"variants", {nlohmann::json{{"episodes", nlohmann::json::array()}}}}};
  test::expect_error([&] { compare_evaluations(nameless, "n.json", b, "b.json"); },
                     {"[compare]", "n.json", "lacks its variant name"});
}

TEST(Eval, TinyCheckpointEndToEndWritesJsonAndVideo) {
  const test::TinyRun& run = test::tiny_run();
  RaterTrainOptions ro;
  ro.ckpt = run.ckpt;
  ro.data = {run.data};
  ro.steps = 10;
  ro.batch = 8;
  train_rater(ro);
  const std::string dir = test::temp_dir("eval");
  const auto [code, out] = test::run_cli(
      "eval --ckpt " + run.ckpt +
          " --suite spatial --tasks left_cube_on_plate --episodes 2 --max-steps 15 --mode async"
          " --video " +
          dir + "/videos --out " + dir + "/eval.json",
      2);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("left_cube_on_plate"), std::string::npos) << out;
  EXPECT_NE(out.find("average"), std::string::npos) << out;
  const auto j = nlohmann::json::parse(read_file(dir + "/eval.json"));
  EXPECT_EQ(j["mode"], "async");
  EXPECT_EQ(j["average"]["episodes"], 2);
  ASSERT_EQ(j["episodes"].size(), 2u);
  for (const auto& e : j["episodes"]) {
    EXPECT_GE(e["seed"].get<uint64_t>(), uint64_t{1} << 40);  // never a demonstration seed
    EXPECT_LE(e["steps"].get<int>(), 15);
    EXPECT_GE(e["chunks"].get<int>(), 3);  // 15 steps, 5 per chunk
    EXPECT_GT(e["mean_confidence"].get<double>(), 0.0);
  }
  // the task's row is its episodes' count, with their wilson interval
  int successes = 0;
  for (const auto& e : j["episodes"]) successes += e["success"].get<bool>() ? 1 : 0;
  const auto [low, high] = wilson_interval(successes, 2);
  EXPECT_EQ(j["tasks"][0]["successes"].get<int>(), successes);
  EXPECT_DOUBLE_EQ(j["tasks"][0]["success_rate"].get<double>(), successes / 2.0);
  EXPECT_DOUBLE_EQ(j["tasks"][0]["wilson_low"].get<double>(), low);
  EXPECT_DOUBLE_EQ(j["tasks"][0]["wilson_high"].get<double>(), high);
  EXPECT_FALSE(std::filesystem::exists(dir + "/videos/left_cube_on_plate_async_ep1.mp4"));
  // the rollout video decodes back: one frame per executed step plus the last observation, both
  // cameras side by side at the checkpoint's resolution (32), the chunk overlay below
  const test::DecodedVideo video =
      test::decode_video(dir + "/videos/left_cube_on_plate_async_ep0.mp4");
  EXPECT_EQ(video.frame_luma.size(), j["episodes"][0]["steps"].get<size_t>() + 1);
  EXPECT_EQ(video.width, 64);
  EXPECT_GT(video.height, 32);

  // eval-rater on the synthetic demos
  const auto [code2, out2] =
      test::run_cli("eval-rater --ckpt " + run.ckpt + " --data " + run.data +
                        " --frames 40 --batch 20 --out " + dir + "/rater.json",
                    2);
  ASSERT_EQ(code2, 0) << out2;
  // the file holds what evaluate_rater computes for the same options in this process
  const auto q = nlohmann::json::parse(read_file(dir + "/rater.json"));
  RaterQualityOptions qo;
  qo.ckpt = run.ckpt;
  qo.data = {run.data};
  qo.frames = 40;
  qo.batch = 20;
  const RaterQuality want = evaluate_rater(qo);
  EXPECT_EQ(q["frames"], 40);
  EXPECT_NEAR(q["auroc_top_error_tokens"].get<double>(), want.auroc, 1e-9);
  EXPECT_NEAR(q["sfm_error"].get<double>(), want.sfm_error, 1e-5 * want.sfm_error);
  EXPECT_NEAR(q["async_afm_error"].get<double>(), want.async_error, 1e-5 * want.async_error);
  EXPECT_GT(want.sfm_error, 0.0);
  std::filesystem::remove_all(dir);
}

// the privileged-state diagnostic end to end: collected files carry obs/object_states, the dataset
// appends them to the state, a --privileged-state run trains on them, and eval / infer hand the
// checkpoint the same numbers from the simulator / the demo
TEST(Eval, PrivilegedStateRunTrainsOnObjectStatesAndEvaluates) {
  const std::string dir = test::temp_dir("privileged");
  const std::string file = test::collect_cube_on_plate(dir + "/data", 2);

  // the dataset: 11 features, then the file's object states as they are
  const LiberoFile f = read_libero_file(file);
  ASSERT_TRUE(f.demos[0].object_states.defined());
  ASSERT_EQ(f.demos[0].object_states.sizes(),
            torch::IntArrayRef({f.demos[0].length(), object_state_dim}));
  const Dataset plain = load_dataset({file}, {32, 4, 1e-3, state_feature_dim});
  const Dataset privileged =
      load_dataset({file}, {32, 4, 1e-3, state_feature_dim + object_state_dim});
  ASSERT_EQ(privileged.state.size(1), state_feature_dim + object_state_dim);
  EXPECT_TRUE(torch::equal(privileged.state.narrow(1, 0, state_feature_dim), plain.state));
  const torch::Tensor objects =
      torch::cat({f.demos[0].object_states, f.demos[1].object_states}).to(torch::kFloat32);
  EXPECT_TRUE(
      torch::equal(privileged.state.narrow(1, state_feature_dim, object_state_dim), objects));
  // the task's cube is carried to the plate: its columns move by the distance it travels
  const sim::Task& task = sim::find_task("goal", "cube_on_plate");
  int64_t cube = 0;
  while (task.scene.objects[static_cast<size_t>(cube)].name != task.goals[0].object) ++cube;
  const torch::Tensor cube_xy = f.demos[0].object_states.narrow(1, 3 * cube, 2);
  EXPECT_GT((cube_xy[-1] - cube_xy[0]).norm().item<double>(), 0.05);
  // and its yaw features stay on the unit circle all the way (a cube; sim::yaw_features)
  const torch::Tensor cube_yaw =
      f.demos[0].object_states.narrow(1, object_yaw_offset + 2 * cube, 2);
  EXPECT_LT((cube_yaw.norm(2, 1) - 1).abs().max().item<double>(), 1e-9);
  // files without object states (the synthetic ones) are an error naming the demo
  test::expect_error(
      [] {
        load_dataset({expand_data_paths({test::tiny_data_dir()})[0]},
                     {32, 4, 1e-3, state_feature_dim + object_state_dim});
      },
      {"[data]", "demo_0", "no obs/object_states", "privileged"});

  // train, infer and eval through the binary
  const std::string ckpt = dir + "/ckpt";
  test::CliRun r = test::run_cli("train --data " + dir + "/data --config " + test::source_dir() +
                                 "/configs/tiny.json --steps 2 --privileged-state --out " + ckpt);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto config = nlohmann::json::parse(read_file(ckpt + "/config.json"));
  EXPECT_EQ(config["model"]["state_dim"], state_feature_dim + object_state_dim);
  r = test::run_cli("infer --ckpt " + ckpt + " --data " + file + " --step 3");
  EXPECT_EQ(r.code, 0) << r.output;
  r = test::run_cli("eval --ckpt " + ckpt +
                    " --suite goal --tasks cube_on_plate --episodes 1 --max-steps 8 --mode sfm "
                    "--out " +
                    dir + "/eval.json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/eval.json"))["episodes"][0]["steps"], 8);
  // a plain checkpoint refuses the longer state, naming both widths
  Observation obs = demo_observation(f.demos[0], 0, f.language_instruction, 0, true);
  EXPECT_EQ(obs.state.size(0), raw_state_dim + object_state_dim);
  test::expect_error([&] { Policy(test::tiny_run().ckpt).prepare(obs); },
                     {"[policy]", "observation.state has shape [49]", "expected [8]"});
}

// fuzz_request found a finite state (-5.7e37 in ee position z) whose normalized feature
// overflowed float32 to -Inf and reached the model; a state this far from the training data is
// refused, naming the feature
TEST(Eval, AStateFarOutsideTheTrainingRangeIsRefusedNamingTheFeature) {
  Policy policy(test::tiny_run().ckpt);
  const LiberoFile f = read_libero_file(expand_data_paths({test::tiny_run().data})[0]);
  Observation obs = demo_observation(f.demos[0], 0, f.language_instruction, 0, false);
  EXPECT_TRUE(torch::isfinite(policy.prepare(obs).state).all().item<bool>());
  for (double far : {-5.7e37, 1e300, 1e6}) {
    Observation bad = obs;
    bad.state = obs.state.to(torch::kFloat64);  // as a server request's '<f8' state
    bad.state[2] = far;
    test::expect_error([&] { policy.prepare(bad); },
                       {"[policy]", "observation.state is out of range: feature 2 (ee position z)",
                        "standard deviations from the training mean", "another unit"});
  }
  Observation finger = obs;
  finger.state = obs.state.clone();
  finger.state[7] = 1e9;
  test::expect_error([&] { policy.prepare(finger); }, {"feature 10 (finger 1)"});
  // 20 cm off in x is far outside a tabletop demo, but a position, not another unit: accepted
  Observation near = obs;
  near.state = obs.state.clone();
  near.state[0] = obs.state[0].item<double>() + 0.2;
  EXPECT_TRUE(torch::isfinite(policy.prepare(near).state).all().item<bool>());
}

// one batched call for three envs gives each row the episode it has alone: the same chunks from
// the same observations (before the first task switch and after it, where a renderer shared
// between envs once mixed scenes), and the same outcomes over 30 steps. the action sums are
// compared over the first chunk only: this tiny policy turns a one-level pixel change into a
// visible action change, so a batched matmul's rounding (~1e-6) grows past any tolerance after a
// few closed-loop steps. the gripper executes as predicted, as binarizing a command near 0 turns
// that rounding into a full flip
TEST(Eval, LockstepBatchesGiveTheOneAtATimeEpisodes) {
  const test::TinyRun& run = test::tiny_run();
  const std::string dir = test::temp_dir("eval_lockstep");
  auto report = [&](int parallel, int max_steps) {
    const std::string out = fmt::format("{}/p{}_{}.json", dir, parallel, max_steps);
    const auto [code, text] = test::run_cli(
        fmt::format("eval --ckpt {} --suite goal --tasks open_drawer cube_in_bowl --episodes 3 "
                    "--max-steps {} --mode random --gripper continuous --parallel {} --out {}",
                    run.ckpt, max_steps, parallel, out));
    EXPECT_EQ(code, 0) << text;
    return nlohmann::json::parse(read_file(out))["episodes"];
  };
  // the first chunk of every episode, both tasks
  const auto first_one = report(1, 2), first_batched = report(3, 2);
  ASSERT_EQ(first_one.size(), 6u);
  ASSERT_EQ(first_batched.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    const double sum = first_one[i]["executed_action_sum"].get<double>();
    EXPECT_NEAR(first_batched[i]["executed_action_sum"].get<double>(), sum,
                1e-5 * (1 + std::abs(sum)))
        << first_one[i]["task"] << " episode " << i;
  }
  // whole episodes
  const auto one = report(1, 30), batched = report(3, 30);
  ASSERT_EQ(one.size(), 6u);
  ASSERT_EQ(batched.size(), 6u);
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i]["task"], batched[i]["task"]);
    EXPECT_EQ(one[i]["seed"], batched[i]["seed"]);
    EXPECT_EQ(one[i]["success"], batched[i]["success"]);
    EXPECT_EQ(one[i]["steps"], batched[i]["steps"]);
    EXPECT_EQ(one[i]["chunks"], batched[i]["chunks"]);
    EXPECT_EQ(one[i]["regenerated_tokens"], batched[i]["regenerated_tokens"]);  // random masks
  }
  std::filesystem::remove_all(dir);
}

// rows of a lockstep batch that finish at different steps: the expert's episodes end at success,
// each at its own step, and every row's episode is the one it runs alone
TEST(Eval, LockstepRowsThatFinishAtDifferentStepsKeepTheirEpisodes) {
  EvalOptions o;
  o.suite = "goal";
  o.tasks = {"open_drawer", "cube_in_bowl"};
  o.episodes = 3;
  o.scripted = "expert";
  const EvalReport one = evaluate(o);
  o.parallel = 3;
  const EvalReport batched = evaluate(o);
  ASSERT_EQ(one.episodes.size(), 6u);
  ASSERT_EQ(batched.episodes.size(), 6u);
  std::set<int> steps;
  for (size_t i = 0; i < one.episodes.size(); ++i) {
    const EpisodeRecord &a = one.episodes[i], &b = batched.episodes[i];
    EXPECT_EQ(a.task, b.task);
    EXPECT_EQ(a.seed, b.seed);
    EXPECT_TRUE(a.success && b.success) << i;
    EXPECT_EQ(a.steps, b.steps) << i;
    EXPECT_EQ(a.action_sum, b.action_sum) << i;
    steps.insert(a.steps);
  }
  // the rows of each batch of 3 did finish at different steps (else this tests nothing)
  EXPECT_GE(steps.size(), 4u);
}

TEST(Eval, BadArgumentsAreClearErrors) {
  const auto [code, out] =
      test::run_cli("eval --ckpt /nonexistent --suite spatial --mode bogus", 2);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("--mode"), std::string::npos) << out;
  const auto [code2, out2] = test::run_cli("eval --ckpt /nonexistent --suite spatial", 2);
  EXPECT_EQ(code2, 1);
  EXPECT_NE(out2.find("error:"), std::string::npos) << out2;
  // a server samples with its own noise: the flag would silently do nothing, so it is refused
  // before any connection is tried
  const auto [code3, out3] =
      test::run_cli("eval --server ws://127.0.0.1:1 --suite goal --noise-scale 0.5", 2);
  EXPECT_EQ(code3, 1);
  EXPECT_NE(out3.find("--noise-scale 0.5 has no effect with --server"), std::string::npos) << out3;
  const auto [code4, out4] =
      test::run_cli("eval --ckpt /nonexistent --suite goal --noise-scale 9", 2);
  EXPECT_NE(code4, 0);
  EXPECT_NE(out4.find("--noise-scale"), std::string::npos) << out4;
}

// the success path of closed-loop evaluation, without a trained policy: the scripted expert's
// actions succeed in every episode with exactly sim collect's step count and stop there; zero
// actions succeed in none and run to the step limit
TEST(Eval, ScriptedExpertSucceedsEveryEpisodeAndZeroActionsNone) {
  EvalOptions o;
  o.suite = "goal";
  o.tasks = {"open_drawer", "cube_in_bowl"};
  o.episodes = 2;
  o.scripted = "expert";
  const EvalReport expert = evaluate(o);
  EXPECT_EQ(expert.mode, "scripted_expert");
  EXPECT_EQ(expert.total.successes, 4);
  EXPECT_EQ(expert.total.rate, 1.0);
  sim::EnvConfig config;
  config.image_size = 64;
  sim::Env env(config);
  for (const EpisodeRecord& e : expert.episodes) {
    const sim::ExpertEpisode reference =
        sim::run_expert(env, sim::find_task("goal", e.task), e.seed, false);
    EXPECT_TRUE(e.success);
    EXPECT_EQ(e.steps, reference.steps) << e.task << " seed " << e.seed;  // stopped at success
    EXPECT_EQ(e.chunks, e.steps);                                         // one action a chunk
  }
  o.scripted = "zero";
  o.max_steps = 60;
  const EvalReport zero = evaluate(o);
  EXPECT_EQ(zero.total.successes, 0);
  for (const EpisodeRecord& e : zero.episodes) EXPECT_EQ(e.steps, 60);
  o.ckpt = "/some/ckpt";
  test::expect_error([&] { evaluate(o); }, {"--scripted runs without a policy"});
}

// a long task's progress: the expert cut at half its steps has opened the drawer (goal 1 of 2) and
// not yet put the cube in the bowl, so the episode fails with one goal reached; run to the end it
// reaches both
TEST(Eval, LongTaskRecordsGoalsReachedByAFailedEpisode) {
  EvalOptions o;
  o.suite = "long";
  o.tasks = {"open_drawer_then_cube_in_bowl"};
  o.episodes = 1;
  o.scripted = "expert";
  const EvalReport full = evaluate(o);
  ASSERT_EQ(full.episodes.size(), 1u);
  const EpisodeRecord& done = full.episodes[0];
  EXPECT_TRUE(done.success);
  EXPECT_EQ(done.goals, 2);
  EXPECT_EQ(done.goals_reached, 2);
  EXPECT_EQ(full.total.partial, 0);
  o.max_steps = done.steps / 2;
  const EvalReport cut = evaluate(o);
  const EpisodeRecord& half = cut.episodes[0];
  EXPECT_FALSE(half.success);
  EXPECT_EQ(half.steps, done.steps / 2);
  EXPECT_EQ(half.goals_reached, 1);
  EXPECT_EQ(cut.tasks[0].partial, 1);
  EXPECT_EQ(cut.total.partial, 1);
  const nlohmann::json j = to_json(cut);
  EXPECT_EQ(j["episodes"][0]["goals_reached"].get<int>(), 1);
  EXPECT_EQ(j["tasks"][0]["partial"].get<int>(), 1);
  EXPECT_NE(format_table(cut).find("failed, a goal reached"), std::string::npos);
  // the expert puts nothing where no goal asks
  EXPECT_EQ(half.wrong_placements, 0);
  EXPECT_EQ(cut.total.misplaced, 0);
  EXPECT_EQ(j["episodes"][0]["wrong_placements"].get<int>(), 0);
  EXPECT_EQ(j["tasks"][0]["misplaced"].get<int>(), 0);
  EXPECT_NE(format_table(cut).find("failed, misplaced"), std::string::npos);
}

// where a placement ended: the expert's stack ends within the 2 cm the rule allows; zero actions
// leave the cube where the layout put it, so its offset is the layout's own distance
TEST(Eval, RecordsHowFarAStackEndedFromItsTarget) {
  EvalOptions o;
  o.suite = "goal";
  o.tasks = {"stack_cube_on_cylinder"};
  o.episodes = 1;
  o.scripted = "expert";
  const EvalReport expert = evaluate(o);
  ASSERT_EQ(expert.episodes.size(), 1u);
  const EpisodeRecord& stacked = expert.episodes[0];
  EXPECT_TRUE(stacked.success);
  ASSERT_EQ(stacked.target_offset_cm.size(), 1u);
  EXPECT_GE(stacked.target_offset_cm[0], 0.0);
  EXPECT_LT(stacked.target_offset_cm[0], 2.0);
  ASSERT_EQ(stacked.grasp_yaw_error_deg.size(), 1u);
  EXPECT_GE(stacked.grasp_yaw_error_deg[0], 0.0);  // held, square to the cube's faces
  EXPECT_LT(stacked.grasp_yaw_error_deg[0], 1.0);
  // the stack held with the cube still in the fingers, the cylinder upright and in place
  ASSERT_EQ(stacked.placements.size(), 1u);
  EXPECT_EQ(stacked.placements[0].release_offset_cm, -1.0);
  EXPECT_EQ(stacked.placements[0].upset_offset_cm, -1.0);
  EXPECT_GE(stacked.placements[0].target_tilt_deg, 0.0);
  EXPECT_LT(stacked.placements[0].target_tilt_deg, 2.0);
  // as written to the report file: none is NaN in the record, null in the file
  const nlohmann::json placement =
      nlohmann::json::parse(to_json(expert).dump())["episodes"][0]["placements"][0];
  EXPECT_TRUE(std::isnan(stacked.placements[0].release_gap_cm));
  EXPECT_TRUE(placement["release_gap_cm"].is_null());
  EXPECT_EQ(placement["target_tilt_deg"].get<double>(), stacked.placements[0].target_tilt_deg);

  o.scripted = "zero";
  o.max_steps = 20;
  const EvalReport zero = evaluate(o);
  const EpisodeRecord& still = zero.episodes[0];
  sim::EnvConfig config;
  config.image_size = 64;
  sim::Env env(config);
  env.reset(sim::find_task("goal", "stack_cube_on_cylinder"), still.seed);
  const double apart = 100.0 * sim::distance_xy(env.physics().body_pose("red_cube").pos,
                                                env.physics().body_pose("blue_cylinder").pos);
  ASSERT_EQ(still.target_offset_cm.size(), 1u);
  EXPECT_GT(apart, 4.0);  // the layout never starts it stacked
  EXPECT_NEAR(still.target_offset_cm[0], apart, 0.2);
  EXPECT_EQ(still.grasp_yaw_error_deg, std::vector<double>{-1.0});  // never held
  EXPECT_EQ(to_json(zero)["episodes"][0]["target_offset_cm"][0].get<double>(),
            still.target_offset_cm[0]);

  // a drawer goal has no target object
  o.tasks = {"open_drawer"};
  const EvalReport drawer = evaluate(o);
  ASSERT_EQ(drawer.episodes[0].target_offset_cm.size(), 1u);
  EXPECT_EQ(drawer.episodes[0].target_offset_cm[0], -1.0);
  ASSERT_EQ(drawer.episodes[0].placements.size(), 1u);
  EXPECT_EQ(drawer.episodes[0].placements[0].target_tilt_deg, -1.0);
}

}  // namespace
}  // namespace avla
