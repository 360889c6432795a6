// evaluation: wilson intervals and auroc by hand; eval and eval-rater of a tiny checkpoint end
// to end through the binary, with valid JSON and a rollout video.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "eval/statistics.h"
#include "io/atomic_file.h"
#include "test_util.h"
#include "tiny_policy.h"
#include "train/rater_trainer.h"

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
  const double rate = j["tasks"][0]["success_rate"];
  EXPECT_GE(rate, 0.0);
  EXPECT_LE(j["tasks"][0]["wilson_low"].get<double>(), rate);
  EXPECT_GE(j["tasks"][0]["wilson_high"].get<double>(), rate);
  EXPECT_TRUE(std::filesystem::exists(dir + "/videos/left_cube_on_plate_async_ep0.mp4"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/videos/left_cube_on_plate_async_ep1.mp4"));

  // eval-rater on the synthetic demos
  const auto [code2, out2] =
      test::run_cli("eval-rater --ckpt " + run.ckpt + " --data " + run.data +
                        " --frames 40 --batch 20 --out " + dir + "/rater.json",
                    2);
  ASSERT_EQ(code2, 0) << out2;
  const auto q = nlohmann::json::parse(read_file(dir + "/rater.json"));
  EXPECT_EQ(q["frames"], 40);
  EXPECT_GE(q["auroc_top_error_tokens"].get<double>(), 0.0);
  EXPECT_LE(q["auroc_top_error_tokens"].get<double>(), 1.0);
  EXPECT_GT(q["sfm_error"].get<double>(), 0.0);
  std::filesystem::remove_all(dir);
}

TEST(Eval, BadArgumentsAreClearErrors) {
  const auto [code, out] =
      test::run_cli("eval --ckpt /nonexistent --suite spatial --mode bogus", 2);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("--mode"), std::string::npos) << out;
  const auto [code2, out2] = test::run_cli("eval --ckpt /nonexistent --suite spatial", 2);
  EXPECT_EQ(code2, 1);
  EXPECT_NE(out2.find("error:"), std::string::npos) << out2;
}

}  // namespace
}  // namespace avla
