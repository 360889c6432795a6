// swiglu's fused silu(gate) * up against float64 autograd on the same inputs: forward and
// backward, fp32 and bf16 (what autocast training hands it), and inside the module at inference
#include "model/activation.h"

#include <gtest/gtest.h>

#include "model/backend.h"
#include "model/decoder_layer.h"
#include "model/simd.h"
#include "test_util.h"

namespace avla {
namespace {

struct Pass {
  torch::Tensor out, grad;
};

// silu_mul's output and its gradient for grad_out, on x cast to dtype
Pass run(const torch::Tensor& x, const torch::Tensor& grad_out, int64_t hidden,
         torch::ScalarType dtype) {
  torch::Tensor xi = x.to(dtype).detach().requires_grad_(true);
  torch::Tensor out = silu_mul(xi, hidden);
  out.backward(grad_out.to(dtype));
  return {out.detach(), xi.grad()};
}

// the float64 truth on the same (already rounded) inputs
Pass truth(const torch::Tensor& x, const torch::Tensor& grad_out, int64_t hidden) {
  torch::Tensor xd = x.to(torch::kFloat64).detach().requires_grad_(true);
  torch::Tensor out = torch::silu(xd.narrow(-1, 0, hidden)) * xd.narrow(-1, hidden, hidden);
  out.backward(grad_out.to(torch::kFloat64));
  return {out.detach(), xd.grad()};
}

// largest |got - want| / (|want| + floor)
double max_rel_err(const torch::Tensor& got, const torch::Tensor& want, double floor) {
  torch::Tensor g = got.to(torch::kFloat64);
  return ((g - want).abs() / (want.abs() + floor)).max().item<double>();
}

TEST(Activation, FusedSiluMulMatchesFloat64ForwardAndBackward) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(6);
  const int64_t hidden = 100;  // not a multiple of eight: every row has a tail
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    // inputs rounded to dtype first, so the truth sees exactly what the kernel sees
    torch::Tensor x = (torch::randn({3, 37, 2 * hidden}) * 3.0).to(dtype).to(torch::kFloat32);
    torch::Tensor go = torch::randn({3, 37, hidden}).to(dtype).to(torch::kFloat32);
    const Pass got = run(x, go, hidden, dtype);
    const Pass want = truth(x, go, hidden);
    ASSERT_EQ(got.out.scalar_type(), dtype);
    ASSERT_EQ(got.grad.scalar_type(), dtype);
    ASSERT_EQ(got.grad.sizes(), x.sizes());
    // fp32: the exp's ~2e-7; bf16: one rounding of the fp32 result (2^-8 relative) and no more
    const double bound = dtype == torch::kFloat32 ? 2e-5 : 1.0 / 256 + 1e-4;
    EXPECT_LT(max_rel_err(got.out, want.out, 1e-3), bound) << dtype;
    EXPECT_LT(max_rel_err(got.grad, want.grad, 1e-3), bound) << dtype;
    // in fp32 the plain ops give the same gradient (in bf16 they round every intermediate and
    // stray further from the truth than the kernel does, near silu's flat point most)
    if (dtype == torch::kFloat32) {
      PlainOpsScope plain;
      const Pass ops = run(x, go, hidden, dtype);
      EXPECT_LT(test::max_abs_diff(got.grad, ops.grad), 1e-5);
      EXPECT_LT(test::max_abs_diff(got.out, ops.out), 1e-5);
    }
  }
}

TEST(Activation, SwigluAtInferenceEqualsPlainOps) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(4);
  SwiGlu mlp(48, 100);
  torch::Tensor x = torch::randn({2, 71, 48}) * 3.0;
  torch::NoGradGuard no_grad;
  torch::Tensor fused = mlp->forward(x);
  PlainOpsScope plain;
  torch::Tensor want = mlp->forward(x);
  EXPECT_EQ(fused.sizes(), want.sizes());
  EXPECT_LT(test::max_abs_diff(fused, want), 1e-5);
}

TEST(Activation, AWrongWidthNamesTheShape) {
  try {
    silu_mul(torch::zeros({2, 7}), 4);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 7], expected [..., 8]"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace avla
