// golden test: the PyTorch reference in tests/reference/asyncvla_ref.py (Debian's python3-torch)
// loads the same model.safetensors and inputs and must agree on velocities and the loss.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "flow/flow_matching.h"
#include "io/atomic_file.h"
#include "io/tensor_file.h"
#include "test_util.h"

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

TEST(Golden, PytorchReferenceAgreesOnVelocityAndLoss) { expect_reference_agrees("patch"); }

TEST(Golden, PytorchReferenceAgreesWithTheConvStem) { expect_reference_agrees("conv"); }

}  // namespace
}  // namespace avla
