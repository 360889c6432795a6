// the fused rms norm against float64 autograd on the same inputs: output, input gradient and
// weight gradient, fp32 and bf16 rows (autocast's), and a weight gradient that does not depend
// on the thread count; the decoder layer's residual add fused with the norm after it, and the
// norm that hands the linear bf16 rows under autocast, against the plain ops they replace
#include "model/rms_norm.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "model/autocast.h"
#include "model/backend.h"
#include "model/kernels.h"
#include "model/simd.h"
#include "test_util.h"

namespace avla {
namespace {

struct NormPass {
  torch::Tensor out, dx, dw;
};

// a norm of dim with weights in [0.5, 1.5) from the current seed, eps 1e-6
RMSNorm norm_with_random_weight(int64_t dim) {
  RMSNorm norm(dim, 1e-6);
  torch::NoGradGuard no_grad;
  norm->weight.copy_(torch::rand({dim}) + 0.5);
  return norm;
}

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
  RMSNorm norm = norm_with_random_weight(48);
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

// one pass of the decoder layer's "sum = x + branch, normed = norm(sum)" with its gradients:
// the loss weighs sum by g_sum and normed (as the linear after it takes it: bf16 under autocast)
// by g_normed
struct AddNormPass {
  torch::Tensor sum, normed, dx, dbranch, dw;
};

AddNormPass run_add_norm(RMSNorm& norm, const torch::Tensor& x0, const torch::Tensor& branch0,
                         const torch::Tensor& g_sum, const torch::Tensor& g_normed, bool bf16) {
  norm->weight.mutable_grad() = torch::Tensor();
  torch::Tensor x = x0.detach().requires_grad_(true);
  torch::Tensor branch = branch0.detach().requires_grad_(true);
  NormedSum out;
  {
    Bf16Autocast autocast(bf16);
    out = add_rms_norm(*norm, x, branch);
  }
  if (bf16) out.normed = out.normed.to(torch::kBFloat16);
  ((out.sum * g_sum).sum() + (out.normed.to(torch::kFloat32) * g_normed).sum()).backward();
  return {out.sum.detach(), out.normed.detach(), x.grad(), branch.grad(),
          norm->weight.grad().clone()};
}

TEST(RmsNorm, ResidualAddFusedWithTheNormMatchesThePlainOps) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(10);
  RMSNorm norm = norm_with_random_weight(48);
  // 150 rows in a (batch, tokens, dim) residual stream; g_normed representable in bf16 so both
  // paths see the same gradient after the linear's cast
  torch::Tensor x0 = torch::randn({2, 75, 48}) * 2.0, g_sum = torch::randn({2, 75, 48});
  torch::Tensor g_normed = torch::randn({2, 75, 48}).to(torch::kBFloat16).to(torch::kFloat32);
  // fp32; autocast with an fp32 stream (the prefix) and with a bf16 one (the action tokens)
  for (const auto& [bf16, stream] : std::vector<std::pair<bool, torch::ScalarType>>{
           {false, torch::kFloat32}, {true, torch::kFloat32}, {true, torch::kBFloat16}}) {
    // the branch is a linear's output: bf16 under autocast
    torch::Tensor x = x0.to(stream);
    torch::Tensor branch = torch::randn({2, 75, 48}).to(bf16 ? torch::kBFloat16 : torch::kFloat32);
    const AddNormPass fused = run_add_norm(norm, x, branch, g_sum, g_normed, bf16);
    AddNormPass plain;
    {
      PlainOpsScope ops;
      plain = run_add_norm(norm, x, branch, g_sum, g_normed, bf16);
    }
    ASSERT_EQ(fused.sum.scalar_type(), stream);
    ASSERT_EQ(fused.normed.scalar_type(), bf16 ? torch::kBFloat16 : torch::kFloat32);
    ASSERT_EQ(fused.dx.scalar_type(), stream);
    ASSERT_EQ(fused.dbranch.scalar_type(), branch.scalar_type());
    // the add rounds alike in both; the norm's sums differ in order only (fp32), then round
    // alike; with a bf16 stream the plain norm rounds x inv (and the gradients) in bf16, the
    // kernels once per output
    EXPECT_TRUE(torch::equal(fused.sum, plain.sum)) << bf16 << stream;
    const double out_bound = bf16 ? 1.0 / 128 : 1e-5;
    const double dx_bound = stream == torch::kBFloat16 ? 1.0 / 128 : 1e-5;
    EXPECT_LT(rel_err(fused.normed, plain.normed.to(torch::kFloat64)), out_bound) << stream;
    EXPECT_LT(rel_err(fused.dx, plain.dx.to(torch::kFloat64)), dx_bound) << stream;
    EXPECT_LT(rel_err(fused.dbranch, plain.dbranch.to(torch::kFloat64)), out_bound) << stream;
    EXPECT_LT(rel_err(fused.dw, plain.dw.to(torch::kFloat64)), dx_bound) << stream;
    // x's gradient holds both paths: g_sum itself and the norm's share on top of it
    EXPECT_GT((fused.dx.to(torch::kFloat32) - g_sum).abs().max().item<float>(), 0.1f);
    // without autograd the same rows
    torch::NoGradGuard no_grad;
    Bf16Autocast autocast(bf16);
    const NormedSum inference = add_rms_norm(*norm, x, branch);
    EXPECT_TRUE(torch::equal(inference.sum, fused.sum)) << stream;
    EXPECT_TRUE(torch::equal(inference.normed, fused.normed)) << stream;
  }
}

TEST(RmsNorm, NormForTheLinearIsBf16UnderAutocastAndRoundsOnce) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(11);
  RMSNorm norm = norm_with_random_weight(64);
  torch::Tensor x0 = torch::randn({3, 40, 64});
  torch::Tensor dy = torch::randn({3, 40, 64}).to(torch::kBFloat16);
  // fp32 norm then autocast's rounding, against the norm that writes bf16 itself
  torch::Tensor x_ref = x0.detach().requires_grad_(true);
  torch::Tensor want = norm->forward(x_ref).to(torch::kBFloat16);
  want.backward(dy);
  torch::Tensor x = x0.detach().requires_grad_(true), got;
  {
    Bf16Autocast autocast(true);
    got = rms_norm_for_linear(*norm, x);
  }
  got.backward(dy);
  ASSERT_EQ(got.scalar_type(), torch::kBFloat16);
  EXPECT_LT(rel_err(got, want.to(torch::kFloat64)), 1.0 / 128);
  // most elements round to the same bf16: the fp32 values agree far below bf16's step
  EXPECT_GT(got.eq(want).to(torch::kFloat32).mean().item<float>(), 0.99f);
  EXPECT_LT(rel_err(x.grad(), x_ref.grad().to(torch::kFloat64)), 1e-5);
  // outside autocast it is the module's forward
  EXPECT_TRUE(torch::equal(rms_norm_for_linear(*norm, x0), norm->forward(x0)));
}

}  // namespace
}  // namespace avla
