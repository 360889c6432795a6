#include "model/linear.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "model/simd.h"
#include "test_util.h"

namespace avla {
namespace {

TEST(Linear, SmallMKernelMatchesTorchOnOddShapes) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(5);
  int checked = 0;
  for (int64_t M : {1, 2, 3, 5, 10, 16, 49, 128}) {
    for (int64_t K : {7, 8, 64, 100, 256}) {
      for (int64_t N : {1, 3, 17, 64}) {
        torch::Tensor x = torch::randn({M, K}), w = torch::randn({N, K}), b = torch::randn({N});
        torch::Tensor want = torch::nn::functional::linear(x, w, b);
        EXPECT_LT(test::max_abs_diff(linear_small_m(x, w, b), want), 1e-4 * std::sqrt(double(K)))
            << M << "x" << K << "x" << N;
        EXPECT_LT(test::max_abs_diff(linear_small_m(x, w, torch::Tensor()),
                                     torch::nn::functional::linear(x, w)),
                  1e-4 * std::sqrt(double(K)));
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 8 * 5 * 4);
}

TEST(Linear, DispatchKeepsShapesAndAutograd) {
  torch::Tensor x = torch::randn({1, 10, 32}), w = torch::randn({24, 32}), b = torch::randn({24});
  torch::Tensor want = torch::nn::functional::linear(x, w, b);
  {
    torch::NoGradGuard ng;
    torch::Tensor got = linear(x, w, b);
    EXPECT_EQ(got.sizes(), torch::IntArrayRef({1, 10, 24}));
    EXPECT_LT(test::max_abs_diff(got, want), 1e-4);
  }
  // with autograd on, gradients flow (the torch path)
  torch::Tensor wg = w.clone().requires_grad_(true);
  linear(x, wg, b).sum().backward();
  EXPECT_TRUE(wg.grad().defined());
  EXPECT_LT(test::max_abs_diff(wg.grad(), x.sum(std::vector<int64_t>{0, 1}).expand({24, 32})),
            1e-4);
}

TEST(Linear, PackedWeightsFollowTheWeight) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::NoGradGuard ng;
  torch::Tensor x = torch::randn({10, 64});
  // an in-place update (an optimizer step) moves the version counter: the packed copy is remade
  torch::Tensor w = torch::randn({40, 64});
  torch::Tensor before = linear_small_m(x, w, torch::Tensor());
  w.mul_(-2.0);
  torch::Tensor after = linear_small_m(x, w, torch::Tensor());
  EXPECT_LT(test::max_abs_diff(after, before * -2.0), 1e-4);
  EXPECT_LT(test::max_abs_diff(after, torch::nn::functional::linear(x, w)), 1e-4);
  // weights freed and reallocated (often at the same address) never see an old packing
  for (int i = 0; i < 5; ++i) {
    torch::Tensor wi = torch::full({40, 64}, static_cast<float>(i + 1));
    EXPECT_LT(test::max_abs_diff(linear_small_m(x, wi, torch::Tensor()),
                                 torch::nn::functional::linear(x, wi)),
              1e-3)
        << i;
  }
  // weights made under InferenceMode keep no version: packed fresh every call, still right
  c10::InferenceMode im;
  torch::Tensor wi = torch::randn({40, 64});
  torch::Tensor first = linear_small_m(x, wi, torch::Tensor());
  wi.add_(1.0);
  EXPECT_LT(test::max_abs_diff(linear_small_m(x, wi, torch::Tensor()),
                               first + x.sum(1, /*keepdim=*/true)),
            1e-3);
}

TEST(Linear, SmallMKernelDoesNotDependOnTheThreadCount) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const int before = at::get_num_threads();
  torch::Tensor x = torch::randn({10, 256}), w = torch::randn({1536, 256}),
                b = torch::randn({1536});
  at::set_num_threads(1);
  torch::Tensor one = linear_small_m(x, w, b);
  at::set_num_threads(2);
  torch::Tensor two = linear_small_m(x, w, b);
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(one, two));
  EXPECT_LT(test::max_abs_diff(one, torch::nn::functional::linear(x, w, b)), 1e-3);
}

}  // namespace
}  // namespace avla
