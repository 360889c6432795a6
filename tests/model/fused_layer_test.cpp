// the decoder layer in one parallel region (model/fused_layer) against the same layer run op by op
// through the same kernels (bit for bit, fp32 and bf16, at 1 and 2 threads) and against LibTorch's
// plain ops, in each place inference runs a layer: the prefix pass (key padding, k/v kept for the
// cache), a vision layer (no rotary, no mask) and the cached action step
#include "model/fused_layer.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "model/backend.h"
#include "model/kernels.h"
#include "model/linear.h"
#include "model/simd.h"
#include "test_util.h"

namespace avla {
namespace {

struct LayerRun {
  torch::Tensor out;
  LayerKv kv;
};

enum class Path { Fused, PerOp, Plain };

// one layer call on a path, at a precision and thread count
LayerRun run_layer(DecoderLayer& layer, const torch::Tensor& x, const RotaryTable& rope,
                   const LayerKv* past, const torch::Tensor& mask, bool keep_kv, Path path,
                   Precision precision = Precision::Fp32, int threads = 2) {
  c10::InferenceMode inference;
  const int threads_before = torch::get_num_threads();
  torch::set_num_threads(threads);
  PrecisionScope scope(precision);
  std::optional<PlainOpsScope> plain;
  if (path == Path::Plain) plain.emplace();
  set_layer_fusion(path == Path::Fused);
  LayerRun run;
  run.out = layer->forward(x, rope, past, mask, keep_kv ? &run.kv : nullptr);
  set_layer_fusion(true);
  torch::set_num_threads(threads_before);
  return run;
}

struct Inputs {
  int64_t B = 2, P = 11, L = 10, dim = 64, H = 4, Hkv = 2, ff = 96;
  DecoderLayer layer{nullptr};
  RotaryTable rope;
  torch::Tensor prefix, key_bias, action_bias, actions, patches;
  Inputs() {
    torch::manual_seed(5);
    layer = DecoderLayer(dim, H, Hkv, ff, /*qkv_bias=*/true, 1e-6);
    // non-trivial norm weights: the default ones would hide a norm read from the wrong layer
    torch::NoGradGuard no_grad;
    layer->input_layernorm->weight.uniform_(0.5, 1.5);
    layer->post_attention_layernorm->weight.uniform_(0.5, 1.5);
    rope = RotaryTable::make(P + L, dim / H, 10000.0);
    torch::Tensor key_valid = torch::ones({B, P}, torch::kBool);
    key_valid[1].narrow(0, P - 3, 3).fill_(false);
    key_bias =
        torch::zeros({B, 1, 1, P}).masked_fill(key_valid.logical_not().view({B, 1, 1, P}), -1e9);
    action_bias = torch::cat({key_bias, torch::zeros({B, 1, 1, L})}, 3);
    prefix = torch::randn({B, P, dim});
    actions = torch::randn({B, L, dim});
    patches = torch::randn({B, 16, dim});
  }
};

void expect_same_bits(const LayerRun& a, const LayerRun& b) {
  EXPECT_TRUE(torch::equal(a.out, b.out)) << "max diff " << test::max_abs_diff(a.out, b.out);
  if (a.kv.k.defined() || b.kv.k.defined()) {
    EXPECT_TRUE(torch::equal(a.kv.k, b.kv.k));
    EXPECT_TRUE(torch::equal(a.kv.v, b.kv.v));
  }
}

// the three places a layer runs at inference, on one path
struct ThreeRuns {
  LayerRun prefix, vision, step;
};
void expect_same_bits(const ThreeRuns& a, const ThreeRuns& b) {
  expect_same_bits(a.prefix, b.prefix);
  expect_same_bits(a.vision, b.vision);
  expect_same_bits(a.step, b.step);
}
ThreeRuns run_all(Inputs& in, Path path, Precision precision, int threads) {
  ThreeRuns r;
  r.prefix = run_layer(in.layer, in.prefix, in.rope.slice(0, in.P), nullptr, in.key_bias, true,
                       path, precision, threads);
  r.vision = run_layer(in.layer, in.patches, RotaryTable(), nullptr, torch::Tensor(), false, path,
                       precision, threads);
  r.step = run_layer(in.layer, in.actions, in.rope.slice(in.P, in.L), &r.prefix.kv, in.action_bias,
                     false, path, precision, threads);
  return r;
}

TEST(FusedLayer, SameBitsAsPerOpKernelsAndPlainOpsWithinTolerance) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Inputs in;
  {
    c10::InferenceMode inference;
    EXPECT_TRUE(can_fuse_layer(*in.layer, in.actions, nullptr, in.action_bias.narrow(3, 0, in.L)));
  }
  const ThreeRuns fused = run_all(in, Path::Fused, Precision::Fp32, 2);
  const ThreeRuns per_op = run_all(in, Path::PerOp, Precision::Fp32, 2);
  const ThreeRuns plain = run_all(in, Path::Plain, Precision::Fp32, 2);
  expect_same_bits(fused, per_op);
  EXPECT_EQ(fused.prefix.kv.k.sizes(), (std::vector<int64_t>{in.B, in.Hkv, in.P, in.dim / in.H}));
  EXPECT_LT(test::max_abs_diff(fused.prefix.out, plain.prefix.out), 1e-5);
  EXPECT_LT(test::max_abs_diff(fused.prefix.kv.k, plain.prefix.kv.k), 1e-5);
  EXPECT_LT(test::max_abs_diff(fused.prefix.kv.v, plain.prefix.kv.v), 1e-5);
  EXPECT_LT(test::max_abs_diff(fused.vision.out, plain.vision.out), 1e-5);
  EXPECT_LT(test::max_abs_diff(fused.step.out, plain.step.out), 1e-5);
  // the layer changed its input (a pass-through would also match the per-op path)
  EXPECT_GT(test::max_abs_diff(fused.step.out, in.actions), 1e-2);

  // the prefix pass keeps its keys transposed for the steps, zero-padded to eight keys; a step
  // on a cache without them (the plain path's) transposes the keys itself, with the same bits
  const torch::Tensor& k_t = fused.prefix.kv.k_t;
  ASSERT_TRUE(k_t.defined());
  EXPECT_EQ(k_t.sizes(), (std::vector<int64_t>{in.B, in.Hkv, in.dim / in.H, 16}));
  EXPECT_TRUE(torch::equal(k_t.narrow(3, 0, in.P), fused.prefix.kv.k.transpose(2, 3)));
  EXPECT_EQ(k_t.narrow(3, in.P, 16 - in.P).abs().max().item<float>(), 0.f);
  const LayerKv without_k_t{fused.prefix.kv.k, fused.prefix.kv.v, torch::Tensor()};
  expect_same_bits(run_layer(in.layer, in.actions, in.rope.slice(in.P, in.L), &without_k_t,
                             in.action_bias, false, Path::Fused),
                   fused.step);

  // one thread and two give the same bits
  const ThreeRuns one_thread = run_all(in, Path::Fused, Precision::Fp32, 1);
  expect_same_bits(fused, one_thread);
}

TEST(FusedLayer, Bf16SameBitsAsPerOpKernels) {
  if (!cpu_has_avx512_bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  Inputs in;
  const ThreeRuns fused = run_all(in, Path::Fused, Precision::Bf16, 2);
  const ThreeRuns per_op = run_all(in, Path::PerOp, Precision::Bf16, 2);
  const ThreeRuns fp32 = run_all(in, Path::Fused, Precision::Fp32, 2);
  expect_same_bits(fused, per_op);
  // bf16 rounds each linear's input and weight (2^-8 relative): close to fp32, not equal
  const double diff = test::max_abs_diff(fused.step.out, fp32.step.out);
  EXPECT_GT(diff, 0.0);
  EXPECT_LT(diff, 0.1);
  const ThreeRuns one_thread = run_all(in, Path::Fused, Precision::Bf16, 1);
  expect_same_bits(fused, one_thread);
}

TEST(FusedLayer, TakesOnlyWhatItCanRun) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Inputs in;
  c10::InferenceMode inference;
  EXPECT_TRUE(can_fuse_layer(*in.layer, in.prefix, nullptr, in.key_bias));
  // more rows than the small-M kernel takes: LibTorch's GEMM, op by op
  EXPECT_FALSE(can_fuse_layer(*in.layer, torch::randn({2, kSmallLinearMaxRows, in.dim}), nullptr,
                              torch::Tensor()));
  // a full (B, 1, T, S) mask, as forward_full passes, is not a key bias
  EXPECT_FALSE(can_fuse_layer(*in.layer, in.prefix, nullptr, torch::zeros({in.B, 1, in.P, in.P})));
  EXPECT_FALSE(can_fuse_layer(*in.layer, in.prefix.to(torch::kFloat64), nullptr, in.key_bias));
  set_layer_fusion(false);
  EXPECT_FALSE(can_fuse_layer(*in.layer, in.prefix, nullptr, in.key_bias));
  set_layer_fusion(true);
  {
    PlainOpsScope plain;
    EXPECT_FALSE(can_fuse_layer(*in.layer, in.prefix, nullptr, in.key_bias));
  }
}

TEST(FusedLayer, NotUnderAutograd) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Inputs in;
  EXPECT_FALSE(can_fuse_layer(*in.layer, in.prefix, nullptr, in.key_bias));
  // training's forward still builds a graph through the layer
  torch::Tensor out = in.layer->forward(in.prefix, in.rope.slice(0, in.P), nullptr, in.key_bias);
  EXPECT_TRUE(out.requires_grad());
}

}  // namespace
}  // namespace avla
