// golden test: the PyTorch reference in tests/reference/asyncvla_ref.py (Debian's python3-torch)
// loads the same model.safetensors and inputs and must agree on velocities and the loss, and on
// alg. 1 as Policy::act runs it (confidences, eq. 3 mask, sfm and final chunk) from the same noise.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "flow/flow_matching.h"
#include "io/atomic_file.h"
#include "io/tensor_file.h"
#include "model/rater.h"
#include "test_util.h"
#include "tiny_policy.h"

namespace avla {
namespace {

// the reference loads the same weights and inputs; vision_stem picks the patch embedding
void expect_reference_agrees(const std::string& vision_stem) {
  std::string dir = test::temp_dir("golden");
  Config cfg = test::tiny_config(20);
  cfg.model.vision_stem = vision_stem;
  torch::manual_seed(11);
  VLA model(cfg.model);
  {
    // move every norm weight and bias off its initial value so they are tested too
    torch::NoGradGuard ng;
    for (auto& p : model->named_parameters()) {
      if (p.key().find("norm") != std::string::npos || p.key().find("bias") != std::string::npos) {
        p.value().add_(torch::randn_like(p.value()) * 0.1);
      }
    }
  }
  model->eval();
  write_file_atomic(dir + "/config.json", to_json(cfg).dump(2));
  save_tensor_map(dir + "/model.safetensors", module_state(*model));

  const int64_t B = 3;
  const auto& mc = cfg.model;
  ObservationBatch obs = test::random_observation(mc, B, 12);
  at::Generator gen = at::detail::createCPUGenerator(13);
  torch::Tensor actions = torch::randn({B, mc.chunk_len, mc.action_dim}, gen);
  torch::Tensor noise = torch::randn({B, mc.chunk_len, mc.action_dim}, gen);
  torch::Tensor tau = sample_flow_time(B, gen);
  torch::Tensor mask = sample_flow_mask(B, mc.chunk_len, 0.0, gen);
  torch::Tensor valid = torch::ones({B, mc.chunk_len});
  valid[2][3] = 0;
  save_tensor_map(dir + "/inputs.safetensors", {{"images", obs.images},
                                                {"state", obs.state},
                                                {"tokens", obs.tokens},
                                                {"token_mask", obs.token_mask.to(torch::kUInt8)},
                                                {"actions", actions},
                                                {"noise", noise},
                                                {"tau", tau},
                                                {"mask", mask},
                                                {"valid", valid}});

  const std::string cmd =
      "/usr/bin/python3 " + test::source_dir() + "/tests/reference/asyncvla_ref.py " + dir;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  TensorMap ref = load_tensor_map(dir + "/reference.safetensors");

  torch::NoGradGuard ng;
  torch::Tensor noisy = make_noisy_actions(actions, noise, tau, mask);
  torch::Tensor t = token_time(tau, mask);
  KvCache cache = model->encode_prefix(obs);
  torch::Tensor v_cached = model->velocity(cache, noisy, t);
  torch::Tensor v_full = model->velocity_full(obs, noisy, t);
  torch::Tensor loss = loss_flow(v_cached, noise - actions, mask, valid);

  EXPECT_GT(ref.at("velocity").abs().mean().item<double>(), 1e-2);
  EXPECT_LT(test::max_abs_diff(v_cached, ref.at("velocity")), 1e-4);
  EXPECT_LT(test::max_abs_diff(v_full, ref.at("velocity")), 1e-4);
  EXPECT_LT(test::max_abs_diff(v_cached, ref.at("velocity_cached")), 1e-4);
  EXPECT_NEAR(loss.item<double>(), ref.at("loss").item<double>(), 1e-4);
}

TEST(Golden, PytorchReferenceAgreesOnVelocityAndLoss) {
  expect_reference_agrees("patch");
}

TEST(Golden, PytorchReferenceAgreesWithTheConvStem) {
  expect_reference_agrees("conv");
}

TEST(Golden, PytorchReferenceAgreesOnAlgorithm1) {
  // the tiny trained policy plus a rater with random weights (spread out so that confidences
  // differ), in a checkpoint of its own
  const std::string dir = test::temp_dir("golden_act");
  std::filesystem::copy(test::tiny_run().ckpt, dir, std::filesystem::copy_options::recursive);
  Config cfg = load_config(dir + "/config.json");
  torch::manual_seed(21);
  RaterConfig rc;
  rc.d_model = 32;
  rc.n_head = 2;
  rc.d_ff = 64;
  ConfidenceRater rater(rc, cfg.model);
  {
    torch::NoGradGuard ng;
    rater->rate_head->weight.normal_(0.0, 0.5);
    rater->rate_head->bias.zero_();
  }
  save_rater(dir, rc, *rater);
  Policy policy(dir);
  const auto& mc = policy.config().model;
  const int64_t L = mc.chunk_len, A = mc.action_dim;

  // three observations, each with its own seed; the noise each row's generator gives Policy::act
  // (round one, then round two)
  std::vector<Observation> obs;
  std::vector<uint64_t> seeds = {5, 6, 7};
  for (int t : {0, 3, 6}) obs.push_back(test::synthetic_observation(test::tiny_data_dir(), t));
  std::vector<torch::Tensor> noise, noise2;
  for (uint64_t seed : seeds) {
    at::Generator gen = at::detail::createCPUGenerator(seed);
    noise.push_back(torch::randn({1, L, A}, gen));
    noise2.push_back(torch::randn({1, L, A}, gen));
  }

  // a threshold in the widest gap between the middle confidences, so that some tokens are
  // regenerated and no token sits within rounding of the threshold
  ActOptions opt;
  opt.binarize_gripper = false;
  opt.mode = ActMode::Sfm;
  const std::vector<ActResult> first = policy.act_batch(obs, opt, seeds);
  std::vector<float> conf;
  for (const auto& r : first) {
    for (int64_t l = 0; l < L; ++l) conf.push_back(r.confidence[l].item<float>());
  }
  std::sort(conf.begin(), conf.end());
  size_t cut = conf.size() / 4;
  for (size_t i = conf.size() / 4; i < 3 * conf.size() / 4; ++i) {
    if (conf[i + 1] - conf[i] > conf[cut + 1] - conf[cut]) cut = i;
  }
  ASSERT_GT(conf[cut + 1] - conf[cut], 1e-4) << "confidences too close together";
  opt.mode = ActMode::Async;
  opt.threshold = 0.5 * (conf[cut] + conf[cut + 1]);
  const std::vector<ActResult> out = policy.act_batch(obs, opt, seeds);

  const ObservationBatch batch = policy.prepare(obs);
  save_tensor_map(dir + "/act_inputs.safetensors",
                  {{"images", batch.images},
                   {"state", batch.state},
                   {"tokens", batch.tokens},
                   {"token_mask", batch.token_mask.to(torch::kUInt8)},
                   {"noise", torch::cat(noise)},
                   {"noise2", torch::cat(noise2)},
                   {"threshold", torch::tensor({opt.threshold}, torch::kFloat64)}});
  const std::string cmd =
      "/usr/bin/python3 " + test::source_dir() + "/tests/reference/asyncvla_ref.py " + dir + " act";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  TensorMap ref = load_tensor_map(dir + "/act_reference.safetensors");

  // the reference works in normalized units; the policy returns environment units
  const torch::Tensor ref_sfm = policy.normalizer().actions.unnormalize(ref.at("sfm"));
  const torch::Tensor ref_final = policy.normalizer().actions.unnormalize(ref.at("final"));
  int64_t regenerated = 0;
  for (size_t b = 0; b < obs.size(); ++b) {
    const int64_t row = static_cast<int64_t>(b);
    EXPECT_LT(test::max_abs_diff(out[b].confidence, ref.at("confidence")[row]), 1e-4) << b;
    EXPECT_TRUE(torch::equal(out[b].mask.to(torch::kUInt8), ref.at("mask")[row])) << b;
    EXPECT_LT(test::max_abs_diff(out[b].sfm_actions, ref_sfm[row]), 2e-4) << b;
    EXPECT_LT(test::max_abs_diff(out[b].actions, ref_final[row]), 2e-4) << b;
    regenerated += out[b].mask.sum().item<int64_t>();
  }
  // both kinds of token are present, and the second round moved the regenerated ones
  EXPECT_GT(regenerated, 0);
  EXPECT_LT(regenerated, 3 * L);
  EXPECT_GT(test::max_abs_diff(ref.at("final"), ref.at("sfm")), 1e-3);
}

}  // namespace
}  // namespace avla
