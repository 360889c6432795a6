#include "flow/flow_matching.h"

#include <gtest/gtest.h>

#include "model/action_embedding.h"
#include "test_util.h"

namespace avla {
namespace {

TEST(FlowTime, BetaOnePointFiveOneMeanAndRange) {
  at::Generator gen = at::detail::createCPUGenerator(1);
  torch::Tensor tau = sample_flow_time(200000, gen);
  // E[Beta(1.5, 1)] = 1.5 / 2.5 = 0.6, scaled: 0.999 * 0.6 + 0.001 = 0.6004
  EXPECT_NEAR(tau.mean().item<double>(), 0.6004, 0.003);
  // P(b < 0.5) = 0.5^1.5 = 0.3536
  EXPECT_NEAR((tau < 0.999 * 0.5 + 0.001).to(torch::kFloat64).mean().item<double>(), 0.3536, 0.004);
  EXPECT_GE(tau.min().item<double>(), 0.001);
  EXPECT_LE(tau.max().item<double>(), 1.0);
}

TEST(FlowMask, FrequenciesFollowY) {
  at::Generator gen = at::detail::createCPUGenerator(2);
  const int64_t B = 40000, L = 10;
  torch::Tensor m = sample_flow_mask(B, L, 0.0, gen);
  // every row masks at least one token
  EXPECT_EQ((m.sum(1) == 0).sum().item<int64_t>(), 0);
  // row fraction k/L: with y ~ U(0,1), P(k) = 1/(L+1) for k = 0..L; k = 0 rows become k = 1.
  torch::Tensor k = m.sum(1).to(torch::kInt64);
  torch::Tensor counts = torch::bincount(k, {}, L + 1).to(torch::kFloat64) / B;
  EXPECT_NEAR(counts[0].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(counts[1].item<double>(), 2.0 / (L + 1), 0.01);
  for (int64_t i = 2; i <= L; ++i) EXPECT_NEAR(counts[i].item<double>(), 1.0 / (L + 1), 0.01) << i;
  // vanilla: always all ones
  EXPECT_TRUE(torch::equal(sample_flow_mask(4, L, 1.0, gen), torch::ones({4, L})));
}

TEST(FlowMask, SfmShareAddsAllOnesRows) {
  at::Generator gen = at::detail::createCPUGenerator(4);
  const int64_t B = 40000, L = 10;
  torch::Tensor m = sample_flow_mask(B, L, 0.5, gen);
  // all-ones rows: the forced half plus alg. 2's own 1/(L+1) of the other half
  const double full = (m.sum(1) == L).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(full, 0.5 + 0.5 / (L + 1), 0.01);
  EXPECT_EQ((m.sum(1) == 0).sum().item<int64_t>(), 0);
  test::expect_error([&] { sample_flow_mask(2, L, 1.5, gen); }, {"[flow]", "sfm_share"});
}

TEST(FlowContext, NoiseLandsOnUnmaskedTokensOnlyWithItsStd) {
  at::Generator gen = at::detail::createCPUGenerator(3);
  torch::Tensor actions = torch::randn({64, 10, 7}, gen);
  torch::Tensor mask = sample_flow_mask(64, 10, 0.0, gen);  // (B, L)
  torch::Tensor eps = torch::randn({64, 10, 7}, gen);
  // sigma 0: the same tensor
  EXPECT_TRUE(perturb_context(actions, mask, 0.0, eps).is_same(actions));
  torch::Tensor out = perturb_context(actions, mask, 0.2, eps);
  torch::Tensor delta = out - actions;                   // (B, L, A)
  torch::Tensor on_masked = delta * mask.unsqueeze(-1);  // exactly 0
  EXPECT_EQ(on_masked.abs().max().item<float>(), 0.0f);
  torch::Tensor ctx = delta.masked_select((mask == 0).unsqueeze(-1).expand_as(delta));
  ASSERT_GT(ctx.numel(), 1000);
  EXPECT_NEAR(ctx.std().item<double>(), 0.2, 0.01);
  EXPECT_NEAR(ctx.mean().item<double>(), 0.0, 0.01);
  // exactly sigma * eps, up to the rounding of (a + sigma eps) - a
  EXPECT_TRUE(torch::allclose(
      ctx, 0.2 * eps.masked_select((mask == 0).unsqueeze(-1).expand_as(eps)), 0, 1e-6));
  test::expect_error([&] { perturb_context(actions, mask, -0.1, eps); },
                     {"[flow]", "context noise", "negative"});
  test::expect_error([&] { perturb_context(actions, mask, 0.1, eps.slice(0, 0, 8)); },
                     {"[flow]", "[64, 10, 7]", "[8, 10, 7]", "differ in shape"});
}

TEST(FlowLoss, MatchesHandComputedValue) {
  // B = 1, L = 2, A = 2; a = [[1, 2], [3, 4]], n = [[0, 0], [1, 1]], tau = 0.5, m = [1, 0]
  torch::Tensor a = torch::tensor({1.f, 2.f, 3.f, 4.f}).view({1, 2, 2});
  torch::Tensor n = torch::tensor({0.f, 0.f, 1.f, 1.f}).view({1, 2, 2});
  torch::Tensor tau = torch::tensor({0.5f});
  torch::Tensor m = torch::tensor({1.f, 0.f}).view({1, 2});
  // eq. 5: masked token 0.5 * a + 0.5 * n = [0.5, 1]; unmasked token stays [3, 4]
  torch::Tensor x = make_noisy_actions(a, n, tau, m);
  EXPECT_TRUE(torch::allclose(x, torch::tensor({0.5f, 1.f, 3.f, 4.f}).view({1, 2, 2})));
  // u = n - a = [[-1, -2], [-2, -3]]; v = [[0, 0], [5, 5]]: masked error (1 + 4) / 2 = 2.5
  torch::Tensor v = torch::tensor({0.f, 0.f, 5.f, 5.f}).view({1, 2, 2});
  torch::Tensor valid = torch::ones({1, 2});
  EXPECT_FLOAT_EQ(loss_flow(v, n - a, m, valid).item<float>(), 2.5f);
  // all tokens masked: (1 + 4 + 49 + 64) / 4 = 29.5
  EXPECT_FLOAT_EQ(loss_flow(v, n - a, torch::ones({1, 2}), valid).item<float>(), 29.5f);
  // masked but invalid tokens do not count: only token 1 -> (49 + 64) / 2 = 56.5
  EXPECT_FLOAT_EQ(loss_flow(v, n - a, torch::ones({1, 2}), torch::tensor({0.f, 1.f}).view({1, 2}))
                      .item<float>(),
                  56.5f);
  // token time tau * m
  EXPECT_TRUE(torch::equal(token_time(tau, m), torch::tensor({0.5f, 0.f}).view({1, 2})));
}

TEST(TimeEmbedding, SinusoidValuesAndUnmaskedEqualsTimeZero) {
  // dim 4: periods [4e-3, 4.0]; t = 0.25: sin(2 pi 0.25 / 4e-3), sin(2 pi 0.25 / 4), cos(...)
  torch::Tensor e = sinusoidal_time_embedding(torch::tensor({0.25}), 4, 4e-3, 4.0);
  EXPECT_NEAR(e[0][0].item<double>(), std::sin(2 * M_PI * 0.25 / 4e-3), 1e-5);
  EXPECT_NEAR(e[0][1].item<double>(), std::sin(2 * M_PI * 0.25 / 4.0), 1e-6);
  EXPECT_NEAR(e[0][3].item<double>(), std::cos(2 * M_PI * 0.25 / 4.0), 1e-6);

  Config c = test::tiny_config();
  torch::manual_seed(0);
  ActionEmbedding emb(c.model);
  torch::Tensor x = torch::randn({1, c.model.chunk_len, c.model.action_dim});
  torch::Tensor m = torch::zeros({1, c.model.chunk_len});
  m[0][0] = 1;
  torch::Tensor tau = torch::tensor({0.7f});
  torch::Tensor h = emb(x, token_time(tau, m));
  torch::Tensor h0 = emb(x, torch::zeros({1, c.model.chunk_len}));
  // unmasked tokens: identical to tau = 0; the masked token differs
  EXPECT_TRUE(
      torch::equal(h.narrow(1, 1, c.model.chunk_len - 1), h0.narrow(1, 1, c.model.chunk_len - 1)));
  EXPECT_GT(test::max_abs_diff(h[0][0], h0[0][0]), 1e-3);
}

}  // namespace
}  // namespace avla
