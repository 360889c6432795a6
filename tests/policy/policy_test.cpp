// the deployable policy (alg. 1): batched rows equal single calls, the gripper is binarized only
// when asked, the noise scale, a clear error for async without a rater, and the one alg. 1 that
// act() and the rater's offline evaluation share.
#include "policy/policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "test_util.h"
#include "tiny_policy.h"

namespace avla {
namespace {

TEST(Policy, AsyncWithoutARaterIsAClearError) {
  const test::TinyRun& run = test::tiny_run();
  const std::string bare = test::tiny_policy_without_rater("rater_bare");
  Policy policy(bare);
  EXPECT_FALSE(policy.has_rater());
  ActOptions o;
  o.mode = ActMode::Async;
  test::expect_error([&] { policy.act(test::synthetic_observation(run.data, 3), o); },
                     {"[policy]", "async needs a confidence rater", "train-rater"});
}

TEST(Policy, BatchedRowsEqualSingleCalls) {
  const test::TinyRun& run = test::tiny_run();
  Policy policy(run.ckpt);
  std::vector<Observation> obs = {test::synthetic_observation(run.data, 1),
                                  test::synthetic_observation(run.data, 5),
                                  test::synthetic_observation(run.data, 9)};
  const std::vector<uint64_t> seeds = {11, 12, 13};
  ActOptions o;
  o.mode = ActMode::Random;  // random masks come from each row's own generator too
  o.binarize_gripper = false;
  const std::vector<ActResult> batched = policy.act_batch(obs, o, seeds);
  ASSERT_EQ(batched.size(), 3u);
  for (size_t b = 0; b < 3; ++b) {
    o.seed = seeds[b];
    const ActResult single = policy.act(obs[b], o);
    EXPECT_TRUE(torch::equal(single.mask, batched[b].mask)) << b;
    EXPECT_LT(test::max_abs_diff(single.sfm_actions, batched[b].sfm_actions), 1e-4) << b;
    EXPECT_LT(test::max_abs_diff(single.actions, batched[b].actions), 1e-4) << b;
  }
  // rows differ (different observations and seeds), so the check above can fail
  EXPECT_GT(test::max_abs_diff(batched[0].sfm_actions, batched[1].sfm_actions), 1e-3);
  test::expect_error([&] { policy.act_batch(obs, o, {1}); }, {"[policy]", "1 seeds for 3"});
}

TEST(Policy, GripperIsBinarizedOnlyWhenAsked) {
  const test::TinyRun& run = test::tiny_run();
  Policy policy(run.ckpt);
  const Observation obs = test::synthetic_observation(run.data, 3);
  ActOptions o;
  o.seed = 7;
  o.binarize_gripper = false;
  const ActResult raw = policy.act(obs, o);
  o.binarize_gripper = true;
  const ActResult bin = policy.act(obs, o);
  const int64_t A = raw.actions.size(1);
  // the arm dimensions are the same chunk; the gripper is its sign as -1 / +1
  EXPECT_TRUE(torch::equal(bin.actions.narrow(1, 0, A - 1), raw.actions.narrow(1, 0, A - 1)));
  torch::Tensor want = torch::where(raw.actions.select(1, A - 1) >= 0, 1.0f, -1.0f);
  EXPECT_TRUE(torch::equal(bin.actions.select(1, A - 1), want));
  EXPECT_TRUE(torch::equal(bin.sfm_actions, raw.sfm_actions));
  // the raw chunk is not already binary (else this test could not fail)
  EXPECT_GT((raw.actions.select(1, A - 1).abs() - 1).abs().max().item<float>(), 1e-3);
}

// the starting noise's scale: 1 is the paper's N(0, I) (the default, bit for bit), 0 makes the
// chunk a deterministic function of the observation, whatever the seed
TEST(Policy, NoiseScaleZeroIsDeterministicAndOneIsTheDefault) {
  const test::TinyRun& run = test::tiny_run();
  Policy policy(run.ckpt);
  const Observation obs = test::synthetic_observation(run.data, 3);
  ActOptions o;
  o.binarize_gripper = false;
  auto chunk = [&](uint64_t seed, double scale) {
    o.seed = seed;
    o.noise_scale = scale;
    return policy.act(obs, o).sfm_actions;
  };
  ActOptions plain;
  plain.binarize_gripper = false;
  plain.seed = 7;
  EXPECT_TRUE(torch::equal(chunk(7, 1.0), policy.act(obs, plain).sfm_actions));
  // with noise, seeds differ (so the checks below can fail)
  EXPECT_GT(test::max_abs_diff(chunk(7, 1.0), chunk(8, 1.0)), 1e-3);
  EXPECT_TRUE(torch::equal(chunk(7, 0.0), chunk(8, 0.0)));
  EXPECT_GT(test::max_abs_diff(chunk(7, 0.0), chunk(7, 1.0)), 1e-3);
  // half the noise lands between: closer to the deterministic chunk than full noise is, on average
  double half = 0, full = 0;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    half += test::max_abs_diff(chunk(seed, 0.5), chunk(seed, 0.0));
    full += test::max_abs_diff(chunk(seed, 1.0), chunk(seed, 0.0));
  }
  EXPECT_LT(half, full);
  for (double bad : {-0.1, 5.0, std::nan("")}) {
    o.noise_scale = bad;
    test::expect_error([&] { policy.act(obs, o); }, {"[policy]", "noise scale", "outside [0, 4]"});
  }
}

// act_batch is prepare + act_prepared + unnormalize: the rounds on a prepared batch (what
// eval-rater runs on training batches) are the chunks act() returns, bit for bit
TEST(Policy, PreparedRoundsAreTheChunksActReturns) {
  const test::TinyRun& run = test::tiny_run();
  Policy policy(run.ckpt);
  std::vector<Observation> obs = {test::synthetic_observation(run.data, 2),
                                  test::synthetic_observation(run.data, 6)};
  const std::vector<uint64_t> seeds = {21, 22};
  ActOptions o;
  o.mode = ActMode::Random;
  o.random_mask_prob = 0.7;
  o.n_steps = 4;
  o.binarize_gripper = false;
  const std::vector<ActResult> acted = policy.act_batch(obs, o, seeds);
  std::vector<at::Generator> gens = {at::detail::createCPUGenerator(21),
                                     at::detail::createCPUGenerator(22)};
  const ChunkRounds rounds = policy.act_prepared(policy.prepare(obs), o, gens);
  const torch::Tensor chunk = policy.normalizer().actions.unnormalize(rounds.chunk);
  const torch::Tensor sfm = policy.normalizer().actions.unnormalize(rounds.sfm);
  for (size_t b = 0; b < 2; ++b) {
    EXPECT_TRUE(torch::equal(acted[b].mask, rounds.mask[b])) << b;
    EXPECT_TRUE(torch::equal(acted[b].actions, chunk[b])) << b;
    EXPECT_TRUE(torch::equal(acted[b].sfm_actions, sfm[b])) << b;
  }
  // the options reach it: some tokens regenerated, so the final chunk is not the first round
  EXPECT_TRUE(rounds.mask.any().item<bool>());
  EXPECT_GT(test::max_abs_diff(rounds.chunk, rounds.sfm), 1e-4);
  // with the checkpoint's flow steps (more than 4) the first round is another chunk; 0 steps is
  // an error, not a default
  o.n_steps = 0;
  test::expect_error([&] { policy.act_batch(obs, o, seeds); }, {"[policy]", "flow steps 0"});
  o.n_steps.reset();
  std::vector<at::Generator> again = {at::detail::createCPUGenerator(21),
                                      at::detail::createCPUGenerator(22)};
  EXPECT_GT(test::max_abs_diff(policy.act_prepared(policy.prepare(obs), o, again).sfm, rounds.sfm),
            1e-4);
  std::vector<at::Generator> one = {at::detail::createCPUGenerator(1)};
  test::expect_error([&] { policy.act_prepared(policy.prepare(obs), o, one); },
                     {"[policy]", "1 generators for 2 rows"});
}

}  // namespace
}  // namespace avla
