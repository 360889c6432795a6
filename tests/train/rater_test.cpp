// the confidence rater: eq. 6 labels by hand, training that lowers its loss and leaves the
// backbone bit-identical, and the async policy (T = 0 is sfm, T = 1 regenerates everything,
// unmasked tokens keep their sfm values exactly).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint.h"
#include "data/synthetic.h"
#include "eval/rater_quality.h"
#include "flow/chunk_error.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "policy/policy.h"
#include "test_util.h"
#include "tiny_policy.h"
#include "train/rater_trainer.h"
#include "train/trainer.h"

namespace avla {
namespace {

TEST(RaterLabels, Eq6ByHand) {
  const auto e = torch::tensor({{0.1, 0.3, 0.5, 0.2}}, torch::kFloat64);
  const auto all = torch::ones({1, 4}, torch::kBool);
  const auto q = confidence_labels(e, all, 0.01, 0.98, 1e-6);
  // range 0.4: q = 0.99 - 0.98 * (e - 0.1) / (0.4 + 1e-6)
  EXPECT_NEAR(q[0][0].item<double>(), 0.99, 1e-12);
  EXPECT_NEAR(q[0][1].item<double>(), 0.99 - 0.98 * 0.2 / 0.400001, 1e-12);
  EXPECT_NEAR(q[0][2].item<double>(), 0.99 - 0.98 * 0.4 / 0.400001, 1e-12);  // ~0.01
  EXPECT_NEAR(q[0][3].item<double>(), 0.99 - 0.98 * 0.1 / 0.400001, 1e-12);
  // all errors equal: every label is 1 - alpha
  const auto same = confidence_labels(torch::full({2, 3}, 0.2, torch::kFloat64),
                                      torch::ones({2, 3}, torch::kBool), 0.01, 0.98, 1e-6);
  EXPECT_TRUE(torch::allclose(same, torch::full({2, 3}, 0.99, torch::kFloat64)));
  // invalid tokens take no part in min / max: here the huge error at l = 1 is ignored
  const auto masked = confidence_labels(torch::tensor({{0.1, 9.0, 0.3}}, torch::kFloat64),
                                        torch::tensor({{true, false, true}}), 0.01, 0.98, 1e-6);
  EXPECT_NEAR(masked[0][0].item<double>(), 0.99, 1e-12);
  EXPECT_NEAR(masked[0][2].item<double>(), 0.99 - 0.98 * 0.2 / 0.200001, 1e-12);
  // other alpha / beta
  const auto q2 = confidence_labels(e, all, 0.1, 0.5, 1e-6);
  EXPECT_NEAR(q2[0][2].item<double>(), 0.9 - 0.5 * 0.4 / 0.400001, 1e-12);
}

TEST(RaterLabels, TheWindowMasksOnlyTheChunksFirstTokens) {
  // eq. 3 within a window of 2: only l < 2 with p_l < T is masked
  const auto conf = torch::tensor({{0.2f, 0.9f, 0.1f, 0.3f}, {0.8f, 0.4f, 0.6f, 0.05f}});
  EXPECT_TRUE(
      torch::equal(low_confidence_mask(conf, 0.5, 2),
                   torch::tensor({{true, false, false, false}, {false, true, false, false}})));
  EXPECT_TRUE(torch::equal(low_confidence_mask(conf, 0.5, 4), conf < 0.5));  // the whole chunk
  const auto all3 = torch::ones({1, 3}, torch::kBool);
  EXPECT_TRUE(torch::equal(within_window(all3, 1), torch::tensor({{true, false, false}})));
  test::expect_error([&] { within_window(all3, 4); }, {"[rater]", "window of 4", "chunk_len 3"});
  test::expect_error([&] { within_window(all3, 0); }, {"[rater]", "window of 0"});
  // a config's window: 0 is the whole chunk; longer than the chunk is an error naming both
  RaterConfig c;
  EXPECT_EQ(c.window_tokens(10), 10);
  c.window = 5;
  EXPECT_EQ(c.window_tokens(10), 5);
  test::expect_error([&] { c.window_tokens(4); }, {"[rater]", "window is 5", "4 tokens"});
  c.window = -1;
  test::expect_error([&] { c.validate(); }, {"[rater]", "window is -1"});
  // saved and read back with the other fields; a rater.json without it rates the whole chunk
  c.window = 3;
  EXPECT_EQ(rater_config_from_json(to_json(c), "rater.json").window, 3);
  nlohmann::json old = to_json(RaterConfig{});
  old.erase("window");
  EXPECT_EQ(rater_config_from_json(old, "rater.json").window, 0);
}

TEST(RaterLabels, TokenErrorsAreMeanSquaredOverActionDims) {
  const auto sfm = torch::tensor({{{1.0, 2.0}, {0.0, 0.0}}});
  const auto truth = torch::tensor({{{0.0, 0.0}, {0.0, 3.0}}});
  const auto e = token_errors(sfm, truth);
  EXPECT_FLOAT_EQ(e[0][0].item<float>(), 2.5f);
  EXPECT_FLOAT_EQ(e[0][1].item<float>(), 4.5f);
  test::expect_error([&] { token_errors(sfm, truth.narrow(1, 0, 1)); }, {"[rater]", "[B, L, A]"});
}

TEST(RaterLabels, ActionSpaceErrorsUndoTheQuantileMapFirst) {
  // dim 0 spans [-1, 1] in env units, dim 1 only [-0.01, 0.01]: a normalized miss of 1 in dim 1
  // is 0.01 in env units, and one of 1 in dim 0 stays 1
  NormStats actions;
  actions.mode = NormMode::Quantile;
  actions.q01 = torch::tensor({-1.0f, -0.01f});
  actions.q99 = torch::tensor({1.0f, 0.01f});
  actions.mean = torch::zeros({2});
  actions.std = torch::ones({2});
  const auto truth = torch::zeros({1, 2, 2});
  const auto sfm = torch::tensor({{{0.0f, 1.0f}, {1.0f, 0.0f}}});
  const auto normalized = label_space_errors(sfm, truth, "normalized", actions);
  EXPECT_FLOAT_EQ(normalized[0][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(normalized[0][1].item<float>(), 0.5f);
  const auto action = label_space_errors(sfm, truth, "action", actions);
  EXPECT_NEAR(action[0][0].item<float>(), 0.5 * 0.01 * 0.01, 1e-7);
  EXPECT_NEAR(action[0][1].item<float>(), 0.5, 1e-5);
  test::expect_error([&] { label_space_errors(sfm, truth, "raw", actions); },
                     {"[rater]", "label_space is 'raw'"});
}

TEST(Rater, ConfigJsonRoundTripsAndNamesBadFields) {
  RaterConfig c;
  c.d_model = 64;
  c.beta = 0.5;
  const RaterConfig back = rater_config_from_json(to_json(c), "x/rater.json");
  EXPECT_EQ(back.d_model, 64);
  EXPECT_EQ(back.beta, 0.5);
  EXPECT_EQ(to_json(back), to_json(c));
  nlohmann::json typo = to_json(c);
  typo["d_modle"] = 64;
  test::expect_error([&] { rater_config_from_json(typo, "x/rater.json"); },
                     {"[rater]", "x/rater.json", "unknown field 'rater.d_modle'"});
  nlohmann::json wrong = to_json(c);
  wrong["n_layer"] = "two";
  test::expect_error([&] { rater_config_from_json(wrong, "x/rater.json"); },
                     {"[rater]", "x/rater.json", "'rater.n_layer' has the wrong type"});
  // the label space round-trips; a rater.json written before it existed reads as normalized
  c.label_space = "action";
  EXPECT_EQ(rater_config_from_json(to_json(c), "x/rater.json").label_space, "action");
  nlohmann::json old = to_json(c);
  old.erase("label_space");
  EXPECT_EQ(rater_config_from_json(old, "x/rater.json").label_space, "normalized");
  nlohmann::json space = to_json(c);
  space["label_space"] = "raw";
  test::expect_error([&] { rater_config_from_json(space, "x/rater.json"); },
                     {"[rater]", "label_space is 'raw'"});
  nlohmann::json bad = to_json(c);
  bad["alpha"] = 0.5;
  bad["beta"] = 0.98;
  test::expect_error([&] { rater_config_from_json(bad, "x/rater.json"); }, {"[rater]", "alpha"});
}

TEST(Rater, PaddedPrefixKeysDoNotChangeTheConfidence) {
  Config c = test::tiny_config();
  torch::manual_seed(0);
  ConfidenceRater rater(RaterConfig{}, c.model);
  rater->eval();
  const int64_t P = c.model.prefix_len(), L = c.model.chunk_len;
  auto hidden = torch::randn({2, P, c.model.d_model});
  auto valid = torch::ones({2, P}, torch::kBool);
  valid.narrow(1, P - 5, 4).fill_(false);  // four padded text positions
  const auto bias = key_padding_bias(valid);
  const auto actions = torch::randn({2, L, c.model.action_dim});
  torch::NoGradGuard ng;
  const auto p = rater->forward(hidden, bias, actions);
  EXPECT_EQ(p.sizes(), (std::vector<int64_t>{2, L}));
  EXPECT_GT(p.min().item<float>(), 0.0f);
  EXPECT_LT(p.max().item<float>(), 1.0f);
  auto changed = hidden.clone();
  changed.narrow(1, P - 5, 4).normal_();
  EXPECT_LT((rater->forward(changed, bias, actions) - p).abs().max().item<float>(), 1e-6f);
  // the actions do matter
  EXPECT_GT((rater->forward(hidden, bias, actions * 2) - p).abs().max().item<float>(), 1e-4f);
  test::expect_error([&] { rater->forward(hidden, bias, actions.narrow(1, 0, 3)); },
                     {"[rater]", "actions have shape"});
}

// like the policy trainer, the rater trainer stops at a non-finite loss or gradient, naming the
// step, and writes no rater (lr 1e30 throws the rater's weights to ~1e30 in one step)
TEST(Rater, NonFiniteLossOrGradientStopsNamingTheStepAndWritesNoRater) {
  const test::TinyRun& run = test::tiny_run();
  const std::string ckpt = test::tiny_policy_without_rater("rater_nan");
  RaterTrainOptions o;
  o.ckpt = ckpt;
  o.data = {run.data};
  o.steps = 20;
  o.batch = 8;
  o.lr = 1e30;
  test::expect_error([&] { train_rater(o); }, {"[train-rater]", "at step", "NaN"});
  EXPECT_FALSE(std::filesystem::exists(ckpt + "/rater.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(ckpt + "/rater.json"));
}

TEST(Rater, TrainingLowersTheLossAndLeavesTheBackboneBitIdentical) {
  const test::TinyRun& run = test::tiny_run();
  const std::string model_bytes = read_file(run.ckpt + "/model.safetensors");
  Checkpoint before = load_checkpoint(run.ckpt);
  RaterTrainOptions o;
  o.ckpt = run.ckpt;
  o.data = {run.data};
  o.steps = 500;
  o.batch = 16;
  o.log_every = 100;
  const RaterTrainResult r = train_rater(o);
  std::printf("rater loss %.5f -> %.5f\n", r.first_loss, r.final_loss);
  // a rater that only learned the mean label sits near the labels' variance (~0.15 here, four
  // tokens per chunk spread over [0.01, 0.99]); measured 0.28 -> 0.105 after 600 steps at batch 32
  EXPECT_LT(r.final_loss, 0.6 * r.first_loss);
  EXPECT_LT(r.final_loss, 0.13);
  // it ranks tokens: low confidence finds each chunk's worst token (measured auroc 0.82)
  RaterQualityOptions qo;
  qo.ckpt = run.ckpt;
  qo.data = {run.data};
  qo.frames = 96;
  const RaterQuality q = evaluate_rater(qo);
  std::printf("auroc %.3f, sfm error %.4f, async afm error %.4f\n", q.auroc, q.sfm_error,
              q.async_error);
  EXPECT_GT(q.auroc, 0.7);
  // per position (L of them), and the executed window (half the chunk by default)
  const int64_t L = before.config.model.chunk_len;
  ASSERT_EQ(static_cast<int64_t>(q.sfm_error_by_pos.size()), L);
  ASSERT_EQ(static_cast<int64_t>(q.regenerated_by_pos.size()), L);
  EXPECT_EQ(q.executed, L / 2);
  EXPECT_GT(q.regenerated_fraction, 0.0);
  // same frames and noise at T = 0 with the whole chunk executed: nothing is regenerated, so
  // every position's afm error is its sfm error, and the window is the overall mean
  qo.threshold = 0.0;
  qo.replan = static_cast<int>(L);
  const RaterQuality whole = evaluate_rater(qo);
  EXPECT_EQ(whole.sfm_error, q.sfm_error);
  EXPECT_EQ(whole.regenerated_fraction, 0.0);
  for (int64_t l = 0; l < L; ++l) EXPECT_EQ(whole.async_error_by_pos[l], whole.sfm_error_by_pos[l]);
  EXPECT_NEAR(whole.sfm_error_executed, q.sfm_error, 1e-6 * q.sfm_error);
  EXPECT_NE(q.sfm_error_executed, q.sfm_error);  // the half window is not the whole chunk
  // measured in env action units instead, the same chunks give other errors
  qo.error_space = "action";
  const RaterQuality in_action = evaluate_rater(qo);
  EXPECT_EQ(in_action.error_space, "action");
  EXPECT_EQ(q.error_space, "normalized");
  EXPECT_NE(in_action.sfm_error, q.sfm_error);
  // the backbone: file bytes and every parameter unchanged
  EXPECT_EQ(read_file(run.ckpt + "/model.safetensors"), model_bytes);
  Checkpoint after = load_checkpoint(run.ckpt);
  const auto a = module_state(*before.model), b = module_state(*after.model);
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  EXPECT_TRUE(has_rater(run.ckpt));
  // the saved rater loads strictly and rates in (0, 1)
  Policy policy(run.ckpt);
  ASSERT_TRUE(policy.has_rater());
  const Observation obs = test::synthetic_observation(run.data, 4);
  ActOptions sfm;
  sfm.seed = 9;
  sfm.binarize_gripper = false;  // compare the chunks as the samplers return them
  const ActResult s = policy.act(obs, sfm);
  ASSERT_TRUE(s.confidence.defined());
  EXPECT_FALSE(s.mask.any().item<bool>());

  // async, T = 0: nothing is masked, the chunk is the sfm chunk
  ActOptions async = sfm;
  async.mode = ActMode::Async;
  async.threshold = 0.0;
  const ActResult t0 = policy.act(obs, async);
  EXPECT_FALSE(t0.mask.any().item<bool>());
  EXPECT_TRUE(torch::equal(t0.actions, s.actions));
  EXPECT_TRUE(torch::equal(t0.sfm_actions, s.sfm_actions));
  // T = 1: every token is regenerated (confidences are < 1)
  async.threshold = 1.0;
  const ActResult t1 = policy.act(obs, async);
  EXPECT_TRUE(t1.mask.all().item<bool>());
  EXPECT_FALSE(torch::equal(t1.actions, t1.sfm_actions));
  // T between: masked = confidence < T, unmasked tokens bit-identical to the sfm chunk
  const auto sorted = std::get<0>(s.confidence.sort());
  async.threshold = sorted[s.confidence.size(0) / 2].item<double>();
  const ActResult mid = policy.act(obs, async);
  EXPECT_TRUE(torch::equal(mid.mask, s.confidence < async.threshold));
  ASSERT_TRUE(mid.mask.any().item<bool>());
  ASSERT_FALSE(mid.mask.all().item<bool>());
  const auto keep = mid.mask.logical_not();
  EXPECT_TRUE(torch::equal(mid.actions.index({keep}), mid.sfm_actions.index({keep})));
  EXPECT_TRUE(torch::equal(mid.sfm_actions, s.sfm_actions));

  // a mask window of 2 (the executed part of a chunk): T = 1 regenerates exactly the first 2,
  // and every later token keeps its sfm value bit for bit; random mode draws within it too
  // (L: the chunk length, from above)
  async.threshold = 1.0;
  async.mask_window = 2;
  const ActResult w2 = policy.act(obs, async);
  EXPECT_TRUE(torch::equal(w2.mask, torch::arange(L) < 2));
  EXPECT_TRUE(torch::equal(w2.actions.slice(0, 2), w2.sfm_actions.slice(0, 2)));
  EXPECT_FALSE(torch::equal(w2.actions.slice(0, 0, 2), w2.sfm_actions.slice(0, 0, 2)));
  ActOptions random = sfm;
  random.mode = ActMode::Random;
  random.random_mask_prob = 1.0;
  random.mask_window = 3;
  EXPECT_TRUE(torch::equal(policy.act(obs, random).mask, torch::arange(L) < 3));
  random.mask_window = static_cast<int>(L) + 1;
  test::expect_error([&] { policy.act(obs, random); }, {"[policy]", "mask window", "chunk_len"});
  random.mask_window = 0;  // not a "whole chunk" sentinel: that is chunk_len, or unset
  test::expect_error([&] { policy.act(obs, random); }, {"[policy]", "mask window 0"});
}

// train-rater --window 1: eq. 6 over one token gives the label 1 - alpha, so the rater learns to
// trust position 0, where a whole-chunk rater spreads it over [alpha, 1 - alpha]; and a policy
// with this rater masks nothing past the window, by default
TEST(Rater, AWindowedRaterRatesAndMasksOnlyItsWindow) {
  const test::TinyRun& run = test::tiny_run();
  const std::string ckpt = test::temp_dir("window_rater");
  std::filesystem::copy(run.ckpt, ckpt, std::filesystem::copy_options::recursive);
  RaterTrainOptions o;
  o.ckpt = ckpt;
  o.data = {run.data};
  o.steps = 150;
  o.batch = 16;
  o.log_every = 50;
  o.rater.window = 1;
  train_rater(o);
  EXPECT_EQ(read_json_file(rater_config_path(ckpt), "rater").at("window"), 1);
  Policy policy(ckpt);
  ASSERT_TRUE(policy.has_rater());
  ActOptions async;
  async.mode = ActMode::Async;
  async.threshold = 1.0;  // every rated token
  async.binarize_gripper = false;
  double conf0 = 0;
  for (int t = 0; t < 8; ++t) {
    async.seed = static_cast<uint64_t>(t);
    const ActResult r = policy.act(test::synthetic_observation(run.data, t), async);
    const int64_t L = r.mask.size(0);
    EXPECT_TRUE(torch::equal(r.mask, torch::arange(L) < 1));
    EXPECT_TRUE(torch::equal(r.actions.slice(0, 1), r.sfm_actions.slice(0, 1)));
    conf0 += r.confidence[0].item<double>() / 8;
  }
  std::printf("mean confidence at position 0: %.3f\n", conf0);
  EXPECT_GT(conf0, 0.95);  // the untrained head starts at sigmoid(2) = 0.88
  // eval-rater follows the rater's window: auroc and masks over position 0 only
  RaterQualityOptions qo;
  qo.ckpt = ckpt;
  qo.data = {run.data};
  qo.frames = 32;
  qo.threshold = 1.0;
  const RaterQuality q = evaluate_rater(qo);
  EXPECT_EQ(q.window, 1);
  EXPECT_GT(q.regenerated_by_pos[0], 0.99);
  for (size_t l = 1; l < q.regenerated_by_pos.size(); ++l) EXPECT_EQ(q.regenerated_by_pos[l], 0.0);
}

}  // namespace
}  // namespace avla
