#include "model/linear.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <thread>

#include "model/backend.h"
#include "model/simd.h"
#include "test_util.h"

namespace avla {
namespace {

// the avx2 kernel (5-row tiles) and, where the cpu has avx-512, the 12-row one
TEST(Linear, SmallMKernelMatchesTorchOnOddShapes) {
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  torch::manual_seed(5);
  int checked = 0;
  for (bool avx512 : {false, true}) {
    set_linear_avx512(avx512);
    for (int64_t M : {1, 2, 3, 5, 10, 12, 13, 16, 49, 128}) {
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
  }
  set_linear_avx512(true);
  EXPECT_EQ(checked, 2 * 10 * 5 * 4);
}

// the bf16 kernel computes exactly the products of the bf16-rounded inputs (a bf16 x bf16 product
// fits a float32), summed in float32: against a float64 sum of the same rounded products it is off
// by summation order only, and against the float32 kernel by the rounding, which is far larger
TEST(Linear, Bf16KernelIsTheExactProductOfRoundedInputsOnOddShapes) {
  if (!cpu_has_avx512_bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  torch::manual_seed(6);
  int checked = 0;
  for (int64_t M : {1, 3, 8, 9, 10, 12, 13, 37, 49, 128}) {
    for (int64_t K : {1, 7, 64, 255}) {
      for (int64_t N : {1, 17, 64}) {
        torch::Tensor x = torch::randn({M, K}), w = torch::randn({N, K}), b = torch::randn({N});
        auto rounded = [](const torch::Tensor& t) {
          return t.to(torch::kBFloat16).to(torch::kFloat64);
        };
        torch::Tensor want =
            torch::nn::functional::linear(rounded(x), rounded(w), b.to(torch::kFloat64));
        torch::Tensor got = linear_small_m_bf16(x, w, b);
        ASSERT_EQ(got.sizes(), torch::IntArrayRef({M, N}));
        EXPECT_LT(test::max_abs_diff(got.to(torch::kFloat64), want), 2e-6 * K + 1e-6)
            << M << "x" << K << "x" << N;
        EXPECT_LT(test::max_abs_diff(linear_small_m_bf16(x, w, torch::Tensor()).to(torch::kFloat64),
                                     want - b.to(torch::kFloat64)),
                  2e-6 * K + 1e-6);
        if (K == 255) {
          // the rounding is there: the fp32 kernel's answer differs by far more than the above
          EXPECT_GT(test::max_abs_diff(got, linear_small_m(x, w, b)), 1e-2);
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 10 * 4 * 3);
}

TEST(Linear, Bf16RunsOnlyInsideItsPrecisionScope) {
  if (!cpu_has_avx512_bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  torch::NoGradGuard ng;
  torch::Tensor x = torch::randn({10, 255}), w = torch::randn({32, 255});
  const torch::Tensor fp32 = linear_small_m(x, w, torch::Tensor());
  const torch::Tensor bf16 = linear_small_m_bf16(x, w, torch::Tensor());
  EXPECT_EQ(kernel_precision(), Precision::Fp32);
  EXPECT_TRUE(torch::equal(linear(x, w, torch::Tensor()), fp32));
  {
    const PrecisionScope scope(Precision::Bf16);
    EXPECT_TRUE(torch::equal(linear(x, w, torch::Tensor()), bf16));
    // another thread keeps its own precision (and its own grad mode: off, so the kernels run)
    torch::Tensor other;
    std::thread([&] {
      torch::NoGradGuard thread_ng;
      other = linear(x, w, torch::Tensor());
    }).join();
    EXPECT_TRUE(torch::equal(other, fp32));
  }
  EXPECT_EQ(kernel_precision(), Precision::Fp32);
  EXPECT_TRUE(torch::equal(linear(x, w, torch::Tensor()), fp32));
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
