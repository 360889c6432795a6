// the training attention's two autograd ops (model/attention_train) against LibTorch's plain ops:
// the outputs and every gradient of an attention call, in fp32 and under bf16 autocast, in each
// place training runs one (the prefix pass with key padding, the block-masked full sequence, the
// action block on a cache, the vision layers); and the ops alone against hand-checkable numbers
#include "model/attention_train.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "model/autocast.h"
#include "model/backend.h"
#include "model/simd.h"
#include "test_util.h"

namespace avla {
namespace {

struct Grads {
  torch::Tensor out, d_x, d_past_k, d_past_v;
  std::vector<torch::Tensor> d_params;
};

// one attention call and its backward against a fixed random upstream gradient, our kernels on
// or off; past (optional) is differentiable, as the prefix's cache is in training
Grads attend_backward(Attention& attn, const torch::Tensor& x_in, const RotaryTable& rope,
                      const LayerKv* past_in, const torch::Tensor& mask, const torch::Tensor& up,
                      bool kernels, bool bf16) {
  std::optional<PlainOpsScope> plain;
  if (!kernels) plain.emplace();
  for (auto& p : attn->parameters()) p.mutable_grad() = torch::Tensor();
  torch::Tensor x = x_in.clone().requires_grad_(true);
  LayerKv past;
  if (past_in != nullptr) {
    past.k = past_in->k.clone().requires_grad_(true);
    past.v = past_in->v.clone().requires_grad_(true);
  }
  Grads g;
  {
    Bf16Autocast autocast(bf16);
    g.out = attn->forward(x, rope, past_in != nullptr ? &past : nullptr, mask).to(torch::kFloat32);
  }
  (g.out * up).sum().backward();
  g.d_x = x.grad();
  if (past_in != nullptr) {
    g.d_past_k = past.k.grad();
    g.d_past_v = past.v.grad();
  }
  for (auto& p : attn->parameters()) g.d_params.push_back(p.grad().clone());
  return g;
}

// every tensor of a within tol of b's, relative to b's largest magnitude; and not all zero
void expect_close(const Grads& a, const Grads& b, double tol, const std::string& where) {
  auto near = [&](const torch::Tensor& x, const torch::Tensor& y, const std::string& what) {
    ASSERT_TRUE(x.defined() && y.defined()) << where << ": " << what;
    const double scale = y.abs().max().item<double>();
    EXPECT_GT(scale, 1e-4) << where << ": " << what << " is all zero";
    EXPECT_LT(test::max_abs_diff(x, y), tol * scale) << where << ": " << what;
  };
  near(a.out, b.out, "output");
  near(a.d_x, b.d_x, "d x");
  if (b.d_past_k.defined()) {
    near(a.d_past_k, b.d_past_k, "d past k");
    near(a.d_past_v, b.d_past_v, "d past v");
  }
  ASSERT_EQ(a.d_params.size(), b.d_params.size());
  for (size_t i = 0; i < a.d_params.size(); ++i) {
    near(a.d_params[i], b.d_params[i], "d param " + std::to_string(i));
  }
}

TEST(AttentionTrain, KernelsEqualPlainOpsForwardAndBackward) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(11);
  const int64_t B = 3, P = 13, L = 5, dim = 64, H = 4, Hkv = 2, hd = dim / H;
  Attention attn(dim, H, Hkv, /*qkv_bias=*/true);
  RotaryTable rope = RotaryTable::make(P + L, hd, 10000.0);
  torch::Tensor key_valid = torch::ones({B, P}, torch::kBool);
  key_valid[0].narrow(0, P - 4, 4).fill_(false);
  torch::Tensor key_bias =
      torch::zeros({B, 1, 1, P}).masked_fill(key_valid.logical_not().view({B, 1, 1, P}), -1e9);
  // the full sequence's block mask (B, 1, T, T): prefix rows do not see the actions
  torch::Tensor block =
      torch::cat({key_bias, torch::zeros({B, 1, 1, L})}, 3).expand({B, 1, P + L, P + L}).clone();
  block.narrow(2, 0, P).narrow(3, P, L).fill_(-1e9);
  LayerKv cache{torch::randn({B, Hkv, P, hd}), torch::randn({B, Hkv, P, hd}), torch::Tensor()};
  torch::Tensor action_bias = torch::cat({key_bias, torch::zeros({B, 1, 1, L})}, 3);

  struct Case {
    const char* name;
    torch::Tensor x;
    RotaryTable rope;
    const LayerKv* past;
    torch::Tensor mask;
  };
  const std::vector<Case> cases = {
      {"prefix", torch::randn({B, P, dim}), rope.slice(0, P), nullptr, key_bias},
      {"full sequence", torch::randn({B, P + L, dim}), rope, nullptr, block},
      {"cached actions", torch::randn({B, L, dim}), rope.slice(P, L), &cache, action_bias},
      {"one mask row for the batch", torch::randn({B, L, dim}), rope.slice(P, L), &cache,
       action_bias.narrow(0, 1, 1)},
      {"vision", torch::randn({B, P, dim}), RotaryTable(), nullptr, torch::Tensor()},
  };
  for (const Case& c : cases) {
    const int64_t S = (c.past != nullptr ? P : 0) + c.x.size(1);
    torch::Tensor qkv = torch::zeros({B, c.x.size(1), H + 2 * Hkv, hd});
    ASSERT_TRUE(attention_train_kernels_take(qkv, c.rope, c.mask, S)) << c.name;
    torch::Tensor up = torch::randn({B, c.x.size(1), dim});
    // fp32: the same arithmetic up to summation order (3e-7 seen)
    expect_close(attend_backward(attn, c.x, c.rope, c.past, c.mask, up, true, false),
                 attend_backward(attn, c.x, c.rope, c.past, c.mask, up, false, false), 2e-6,
                 std::string(c.name) + ", fp32");
    // bf16 autocast: the plain ops round between their steps, the kernels once per output (1.7e-2
    // seen, on a cached key gradient)
    if (cpu_has_avx512_bf16()) {
      expect_close(attend_backward(attn, c.x, c.rope, c.past, c.mask, up, true, true),
                   attend_backward(attn, c.x, c.rope, c.past, c.mask, up, false, true), 3e-2,
                   std::string(c.name) + ", bf16");
    }
  }
}

TEST(AttentionTrain, SoftmaxOpMasksScalesAndDifferentiates) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  // one row of S = 11 (a vector and a tail): scores 0, 1, ..., 10, scale 0.5, the last key masked
  const int64_t S = 11;
  torch::Tensor scores = torch::arange(S, torch::kFloat32).view({1, 1, 1, S}).requires_grad_(true);
  torch::Tensor mask = torch::zeros({1, 1, 1, S});
  mask[0][0][0][S - 1] = -1e9;
  torch::Tensor p = scaled_masked_softmax(scores, mask, 0.5);
  double total = 0.0;
  for (int64_t j = 0; j < S - 1; ++j) total += std::exp(0.5 * j);
  for (int64_t j = 0; j < S - 1; ++j) {
    EXPECT_NEAR(p[0][0][0][j].item<double>(), std::exp(0.5 * j) / total, 1e-6) << j;
  }
  EXPECT_EQ(p[0][0][0][S - 1].item<float>(), 0.0f);
  // d/ds_j of p_9: scale p_9 (1{j = 9} - p_j)
  p[0][0][0][9].backward();
  torch::Tensor d = scores.grad().view({S});
  const double p9 = std::exp(0.5 * 9) / total;
  for (int64_t j = 0; j < S; ++j) {
    const double pj = j == S - 1 ? 0.0 : std::exp(0.5 * j) / total;
    EXPECT_NEAR(d[j].item<double>(), 0.5 * p9 * ((j == 9 ? 1.0 : 0.0) - pj), 1e-6) << j;
  }
}

TEST(AttentionTrain, SplitRotateOpEqualsApplyRotaryAndItsAdjoint) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(5);
  const int64_t B = 2, T = 7, H = 4, Hkv = 2, hd = 32;
  RotaryTable rope = RotaryTable::make(T, hd, 10000.0);
  torch::Tensor qkv = torch::randn({B, T, H + 2 * Hkv, hd}).requires_grad_(true);
  std::vector<torch::Tensor> q_k_v = split_rotate_heads(qkv, rope, Hkv);
  for (const torch::Tensor& t : q_k_v) EXPECT_TRUE(t.is_contiguous());
  torch::Tensor qk = torch::cat({q_k_v[0], q_k_v[1]}, 1);
  torch::Tensor want_qk = apply_rotary(qkv.narrow(2, 0, H + Hkv).transpose(1, 2), rope);
  torch::Tensor want_v = qkv.narrow(2, H + Hkv, Hkv).transpose(1, 2);
  EXPECT_LT(test::max_abs_diff(qk, want_qk), 1e-6);
  EXPECT_EQ(test::max_abs_diff(q_k_v[2], want_v), 0.0);
  // the rotation is orthogonal: its adjoint is its inverse, so the gradient of <qk, g> through it
  // is g rotated back; checked against autograd through apply_rotary
  torch::Tensor g_qk = torch::randn_like(want_qk), g_v = torch::randn_like(want_v);
  torch::Tensor ours =
      torch::autograd::grad({(qk * g_qk).sum() + (q_k_v[2] * g_v).sum()}, {qkv})[0];
  torch::Tensor want =
      torch::autograd::grad({(want_qk * g_qk).sum() + (want_v * g_v).sum()}, {qkv})[0];
  EXPECT_LT(test::max_abs_diff(ours, want), 1e-6);
  EXPECT_GT(want.abs().max().item<float>(), 0.1f);
}

}  // namespace
}  // namespace avla
