// the fused no-grad attention kernel against LibTorch's plain ops, in each of the places inference
// runs it: the prefix pass (rotary, key padding, keys and values kept for the cache), the vision
// layers (no rotary, no bias) and the cached action step; and the vectorized exp it uses
#include "model/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <vector>

#include "model/backend.h"
#include "model/simd.h"
#include "test_util.h"

namespace avla {
namespace {

struct AttentionRun {
  torch::Tensor out;
  LayerKv kv;
};

// one attention call with our kernels on or off
AttentionRun attend(Attention& attn, const torch::Tensor& x, const RotaryTable& rope,
                    const LayerKv* past, const torch::Tensor& mask, bool keep_kv, bool kernels) {
  torch::NoGradGuard no_grad;
  std::optional<PlainOpsScope> plain;
  if (!kernels) plain.emplace();
  AttentionRun run;
  run.out = attn->forward(x, rope, past, mask, keep_kv ? &run.kv : nullptr);
  return run;
}

TEST(Attention, FusedKernelEqualsPlainOpsInEveryInferencePath) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(3);
  const int64_t B = 3, P = 13, L = 5, dim = 64, H = 4, Hkv = 2;
  Attention attn(dim, H, Hkv, /*qkv_bias=*/true);
  RotaryTable rope = RotaryTable::make(P + L, dim / H, 10000.0);

  // prefix: key padding on the last tokens of two rows, k and v kept
  torch::Tensor key_valid = torch::ones({B, P}, torch::kBool);
  key_valid[0].narrow(0, P - 4, 4).fill_(false);
  key_valid[2].narrow(0, P - 1, 1).fill_(false);
  torch::Tensor key_bias =
      torch::zeros({B, 1, 1, P}).masked_fill(key_valid.logical_not().view({B, 1, 1, P}), -1e9);
  torch::Tensor prefix = torch::randn({B, P, dim});
  AttentionRun fused = attend(attn, prefix, rope.slice(0, P), nullptr, key_bias, true, true);
  AttentionRun plain = attend(attn, prefix, rope.slice(0, P), nullptr, key_bias, true, false);
  EXPECT_LT(test::max_abs_diff(fused.out, plain.out), 1e-5);
  EXPECT_LT(test::max_abs_diff(fused.kv.k, plain.kv.k), 1e-6);
  EXPECT_LT(test::max_abs_diff(fused.kv.v, plain.kv.v), 1e-6);
  EXPECT_EQ(fused.kv.k.sizes(), (std::vector<int64_t>{B, Hkv, P, dim / H}));
  // a padded key gets no weight: changing its value changes nothing
  torch::Tensor moved = prefix.clone();
  moved[0][P - 1] += 5.0;
  AttentionRun fused_moved = attend(attn, moved, rope.slice(0, P), nullptr, key_bias, false, true);
  EXPECT_LT(
      test::max_abs_diff(fused_moved.out[0].narrow(0, 0, P - 4), fused.out[0].narrow(0, 0, P - 4)),
      1e-6);

  // vision layer: no rotary, no bias
  torch::Tensor patches = torch::randn({B, P, dim});
  AttentionRun v_fused =
      attend(attn, patches, RotaryTable(), nullptr, torch::Tensor(), false, true);
  AttentionRun v_plain =
      attend(attn, patches, RotaryTable(), nullptr, torch::Tensor(), false, false);
  EXPECT_LT(test::max_abs_diff(v_fused.out, v_plain.out), 1e-5);
  EXPECT_GT(test::max_abs_diff(v_fused.out, fused.out), 1e-2);  // the inputs differ

  // cached step on the plain path's cache: action rows see the valid prefix and every action
  torch::Tensor action_bias = torch::cat({key_bias, torch::zeros({B, 1, 1, L})}, 3);
  torch::Tensor actions = torch::randn({B, L, dim});
  AttentionRun c_fused =
      attend(attn, actions, rope.slice(P, L), &plain.kv, action_bias, false, true);
  AttentionRun c_plain =
      attend(attn, actions, rope.slice(P, L), &plain.kv, action_bias, false, false);
  EXPECT_LT(test::max_abs_diff(c_fused.out, c_plain.out), 1e-5);
  EXPECT_GT(c_fused.out.abs().max().item<float>(), 1e-2);
}

TEST(Simd, ExpMatchesStdExpAndKeepsItsEdges) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  // 19 values (two vectors and a tail) across the range softmax and silu use
  std::vector<float> x, want;
  for (int i = 0; i < 19; ++i) x.push_back(-40.0f + 4.5f * static_cast<float>(i));
  for (float v : x) want.push_back(std::exp(v - 30.0f));
  const float total = exp_shifted_sum_f32(x.data(), 30.0f, static_cast<int64_t>(x.size()));
  double want_total = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(x[i], want[i], 1e-6 * want[i]) << i;
    want_total += want[i];
  }
  EXPECT_NEAR(total, want_total, 1e-6 * want_total);
  // a masked key (bias -1e9) weighs exactly 0, a nan stays nan
  std::vector<float> edge = {-1e9f, 0.0f, NAN};
  exp_shifted_sum_f32(edge.data(), 0.0f, 3);
  EXPECT_EQ(edge[0], 0.0f);
  EXPECT_EQ(edge[1], 1.0f);
  EXPECT_TRUE(std::isnan(edge[2]));
}

}  // namespace
}  // namespace avla
