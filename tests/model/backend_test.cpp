// the device setting and the plain-op path: LibTorch's plain ops (the path cuda runs) give the
// chunk and the confidences our cpu kernels give, and the same training step; a bad --device is
// one clear error.
#include "model/backend.h"

#include <gtest/gtest.h>

#include "model/attention.h"
#include "model/rater.h"
#include "model/simd.h"
#include "model/vla.h"
#include "policy/policy.h"
#include "test_util.h"
#include "tiny_policy.h"
#include "train/trainer.h"

namespace avla {
namespace {

TEST(Backend, PlainOpsGiveTheKernelsChunkWithin1e5) {
  const test::TinyRun& run = test::tiny_run();
  Policy policy(run.ckpt);
  const std::vector<Observation> obs = {test::synthetic_observation(run.data, 1),
                                        test::synthetic_observation(run.data, 6)};
  const std::vector<uint64_t> seeds = {3, 4};
  ActOptions o;
  o.mode = ActMode::Random;  // both rounds: sfm, then afm on a random half
  o.binarize_gripper = false;
  ASSERT_TRUE(cpu_kernels_on());
  const torch::Tensor probe = torch::zeros({2, 2});
  EXPECT_EQ(use_cpu_kernels(probe),
            __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
  const std::vector<ActResult> fused = policy.act_batch(obs, o, seeds);
  const ActResult fused_one = policy.act(obs[0], o);
  std::vector<ActResult> plain;
  ActResult plain_one;
  {
    PlainOpsScope scope;
    EXPECT_FALSE(use_cpu_kernels(probe));
    plain = policy.act_batch(obs, o, seeds);
    plain_one = policy.act(obs[0], o);
  }
  EXPECT_TRUE(cpu_kernels_on());  // the scope gives the kernels back
  for (size_t b = 0; b < obs.size(); ++b) {
    EXPECT_TRUE(torch::equal(fused[b].mask, plain[b].mask)) << b;
    EXPECT_GT(fused[b].mask.sum().item<int64_t>(), 0) << b;
    EXPECT_LT(test::max_abs_diff(fused[b].sfm_actions, plain[b].sfm_actions), 1e-5) << b;
    EXPECT_LT(test::max_abs_diff(fused[b].actions, plain[b].actions), 1e-5) << b;
  }
  EXPECT_LT(test::max_abs_diff(fused_one.actions, plain_one.actions), 1e-5);
  // the chunks are not trivially equal: another seed moves them by far more than the tolerance
  ActOptions other = o;
  other.seed = 99;
  EXPECT_GT(test::max_abs_diff(policy.act(obs[0], other).sfm_actions, fused_one.sfm_actions), 1e-3);
}

TEST(Backend, PlainOpsGiveTheRatersConfidenceWithin1e5) {
  const Config cfg = test::tiny_config();
  torch::manual_seed(5);
  VLA model(cfg.model);
  ConfidenceRater rater(RaterConfig{}, cfg.model);
  model->eval();
  rater->eval();
  const ObservationBatch obs = test::random_observation(cfg.model, 2, 8);
  const torch::Tensor actions = torch::randn({2, cfg.model.chunk_len, cfg.model.action_dim});
  auto confidence = [&] {
    c10::InferenceMode inference;
    KvCache cache = model->encode_prefix(obs);
    return rater->forward(cache.prefix_hidden, cache.key_bias, actions);
  };
  const torch::Tensor fused = confidence();
  torch::Tensor plain;
  {
    PlainOpsScope scope;
    plain = confidence();
  }
  EXPECT_EQ(fused.sizes(), plain.sizes());
  EXPECT_LT(test::max_abs_diff(fused, plain), 1e-5);
}

// one alg. 2 step's loss and gradients on the tiny model, kernels on or off
std::pair<double, std::vector<torch::Tensor>> training_step(bool kernels) {
  const Config cfg = test::tiny_config();
  torch::manual_seed(6);
  VLA model(cfg.model);
  model->train();
  TrainBatch batch;
  batch.obs = test::random_observation(cfg.model, 4, 9);
  batch.actions = torch::randn({4, cfg.model.chunk_len, cfg.model.action_dim});
  batch.valid = torch::ones({4, cfg.model.chunk_len});
  at::Generator gen = at::detail::createCPUGenerator(10);
  std::unique_ptr<PlainOpsScope> scope;
  if (!kernels) scope = std::make_unique<PlainOpsScope>();
  const TrainLossTerms terms = unified_flow_loss(*model, batch, cfg.train, gen);
  const torch::Tensor loss = terms.flow.sum / terms.flow.count;
  loss.backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : model->parameters()) grads.push_back(p.grad().clone());
  return {loss.item<double>(), grads};
}

TEST(Backend, PlainOpsGiveTheSameTrainingStep) {
  const auto [loss_fused, grads_fused] = training_step(true);
  const auto [loss_plain, grads_plain] = training_step(false);
  EXPECT_GT(loss_fused, 0.1);
  EXPECT_NEAR(loss_fused, loss_plain, 1e-6 * loss_fused);
  ASSERT_EQ(grads_fused.size(), grads_plain.size());
  double norm = 0;
  for (size_t i = 0; i < grads_fused.size(); ++i) {
    EXPECT_LT(test::max_abs_diff(grads_fused[i], grads_plain[i]), 1e-6) << i;
    norm += grads_fused[i].pow(2).sum().item<double>();
  }
  EXPECT_GT(norm, 1e-6);  // the step moves the weights
}

// --precision bf16: the same alg. 1 on bf16 weights and inputs. the chunk stays within a few
// hundredths (normalized units) of fp32's on the same draws, is not fp32's (the rounding is real),
// and the masks of a random second round are the same draws
TEST(Backend, Bf16PolicyStaysCloseToFp32) {
  if (!cpu_has_avx512_bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  const test::TinyRun& run = test::tiny_run();
  Policy fp32(run.ckpt);
  Policy bf16(run.ckpt, torch::kCPU, Precision::Bf16);
  EXPECT_EQ(bf16.precision(), Precision::Bf16);
  const std::vector<Observation> obs = {test::synthetic_observation(run.data, 1),
                                        test::synthetic_observation(run.data, 6)};
  ActOptions o;
  o.mode = ActMode::Random;
  o.binarize_gripper = false;
  const std::vector<uint64_t> seeds = {3, 4};
  const std::vector<ActResult> a = fp32.act_batch(obs, o, seeds);
  const std::vector<ActResult> b = bf16.act_batch(obs, o, seeds);
  const NormStats& stats = fp32.normalizer().actions;
  for (size_t i = 0; i < obs.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].mask, b[i].mask)) << i;
    // normalized units: the quantile range is [-1, 1]
    EXPECT_LT(test::max_abs_diff(stats.normalize(a[i].actions), stats.normalize(b[i].actions)),
              0.05)
        << i;
    EXPECT_GT(test::max_abs_diff(a[i].actions, b[i].actions), 1e-6) << i;
  }
  // the fp32 policy in the same process is untouched by the other's precision
  EXPECT_TRUE(torch::equal(fp32.act_batch(obs, o, seeds)[0].actions, a[0].actions));
}

TEST(Backend, ABadPrecisionIsOneClearError) {
  EXPECT_EQ(parse_precision("fp32"), Precision::Fp32);
  test::expect_error([] { parse_precision("int4"); }, {"[precision]", "'int4'", "fp32 or bf16"});
  if (!cpu_has_avx512_bf16()) {
    test::expect_error([] { parse_precision("bf16"); }, {"[precision]", "avx512-bf16"});
  }
  // the flag refuses an unknown name before anything loads (CLI11's validation exit code)
  const test::CliRun r = test::run_cli("infer --ckpt /nonexistent --data x --precision fp16");
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("--precision: fp16 not in {fp32,bf16}"), std::string::npos) << r.output;
}

TEST(Backend, ABadDeviceIsOneClearError) {
  EXPECT_EQ(parse_device("cpu"), torch::Device(torch::kCPU));
  test::expect_error([] { parse_device("gpu"); }, {"[device]", "'gpu'", "cpu, cuda or cuda:N"});
  test::expect_error([] { parse_device("cuda:x"); }, {"[device]", "cuda:x", "not a number"});
  if (!torch::cuda::is_available()) {
    test::expect_error([] { parse_device("cuda:0"); }, {"[device]", "cuda:0", "no usable CUDA"});
  }
  const test::CliRun r = test::run_cli("infer --ckpt /nonexistent --data x --device tpu");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("'tpu' is not cpu, cuda or cuda:N"), std::string::npos) << r.output;
}

// the fixed tables that are not weights (rotary cos/sin, the time embedding's frequencies) follow
// a model to its device on the first forward there. found on the first cuda run: when that
// forward ran under InferenceMode (an eval before training), the moved tables became inference
// tensors and the next training step failed. the meta device stands in for cuda here (a plain
// tensor moves there; LibTorch 1.13 cannot move a module there)
TEST(Backend, TablesMovedUnderInferenceModeStayNormalTensors) {
  RotaryTable rope = RotaryTable::make(16, 8, 10000.0);
  torch::Tensor freqs = torch::ones({4});
  {
    c10::InferenceMode inference;
    rope.place_on(torch::Device(torch::kMeta));
    follow_device(freqs, torch::Device(torch::kMeta));
  }
  EXPECT_EQ(rope.cos.device().type(), torch::kMeta);
  EXPECT_EQ(freqs.device().type(), torch::kMeta);
  EXPECT_FALSE(rope.cos.is_inference());
  EXPECT_FALSE(rope.sin.is_inference());
  EXPECT_FALSE(freqs.is_inference());
}

}  // namespace
}  // namespace avla
