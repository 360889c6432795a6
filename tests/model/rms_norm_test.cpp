// the fused rms norm against float64 autograd on the same inputs: output, input gradient and
// weight gradient, fp32 and bf16 rows (autocast's), and a weight gradient that does not depend
// on the thread count
#include "model/rms_norm.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "model/backend.h"
#include "model/simd.h"
#include "test_util.h"

namespace avla {
namespace {

struct NormPass {
  torch::Tensor out, dx, dw;
};

NormPass run_norm(RMSNorm& norm, const torch::Tensor& x, const torch::Tensor& dy,
                  torch::ScalarType dtype) {
  norm->weight.mutable_grad() = torch::Tensor();
  torch::Tensor xi = x.to(dtype).detach().requires_grad_(true);
  torch::Tensor out = norm->forward(xi);
  out.backward(dy.to(dtype));
  return {out.detach(), xi.grad(), norm->weight.grad().clone()};
}

NormPass truth(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& dy,
               double eps) {
  torch::Tensor xd = x.to(torch::kFloat64).detach().requires_grad_(true);
  torch::Tensor wd = w.to(torch::kFloat64).detach().requires_grad_(true);
  torch::Tensor out = xd * torch::rsqrt(xd.pow(2).mean(-1, true) + eps) * wd;
  out.backward(dy.to(torch::kFloat64));
  return {out.detach(), xd.grad(), wd.grad()};
}

// largest |got - want| relative to want's largest magnitude
double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
  return (got.to(torch::kFloat64) - want).abs().max().item<double>() /
         want.abs().max().item<double>();
}

TEST(RmsNorm, FusedMatchesFloat64ForwardAndBackward) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(8);
  RMSNorm norm(48, 1e-6);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(torch::rand({48}) + 0.5);
  }
  // 150 rows: two full blocks of 64 and a short one
  torch::Tensor x0 = torch::randn({2, 75, 48}) * 2.0;
  torch::Tensor dy0 = torch::randn({2, 75, 48});
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    torch::Tensor x = x0.to(dtype).to(torch::kFloat32), dy = dy0.to(dtype).to(torch::kFloat32);
    const NormPass got = run_norm(norm, x, dy, dtype);
    const NormPass want = truth(x, norm->weight.detach(), dy, 1e-6);
    ASSERT_EQ(got.out.scalar_type(), dtype);
    ASSERT_EQ(got.dx.scalar_type(), dtype);
    ASSERT_EQ(got.dw.scalar_type(), torch::kFloat32);
    // fp32: summation order; bf16: one rounding of each output (2^-8) and no more
    const double bound = dtype == torch::kFloat32 ? 1e-5 : 1.0 / 256;
    EXPECT_LT(rel_err(got.out, want.out), bound) << dtype;
    EXPECT_LT(rel_err(got.dx, want.dx), bound) << dtype;
    EXPECT_LT(rel_err(got.dw, want.dw), 1e-5) << dtype;  // summed in fp32 from rounded inputs
  }
  // the plain ops give the same in fp32
  const NormPass fused = run_norm(norm, x0, dy0, torch::kFloat32);
  PlainOpsScope plain;
  const NormPass ops = run_norm(norm, x0, dy0, torch::kFloat32);
  EXPECT_LT(test::max_abs_diff(fused.out, ops.out), 1e-5);
  EXPECT_LT(test::max_abs_diff(fused.dx, ops.dx), 1e-5);
  EXPECT_LT(test::max_abs_diff(fused.dw, ops.dw), 1e-4);
}

TEST(RmsNorm, WeightGradientDoesNotDependOnTheThreadCount) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(9);
  RMSNorm norm(64, 1e-6);
  torch::Tensor x = torch::randn({1000, 64}), dy = torch::randn({1000, 64});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const NormPass one = run_norm(norm, x, dy, torch::kFloat32);
  at::set_num_threads(2);
  const NormPass two = run_norm(norm, x, dy, torch::kFloat32);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.dw, two.dw));
  EXPECT_TRUE(torch::equal(one.dx, two.dx));
  EXPECT_GT(one.dw.abs().max().item<float>(), 1.0f);
}

}  // namespace
}  // namespace avla
