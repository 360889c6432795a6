#include "model/linear.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include "model/simd.h"
#include "util/error.h"

namespace avla {

namespace {

// one tile: MR rows of x against 2 rows of w, with the k loop unrolled KU times so that
// MR * 2 * KU = 8 independent accumulators hide the fma latency. adds bias, writes y.
template <int MR, int KU>
__attribute__((target("avx2,fma"))) inline void tile(const float* x, const float* w0,
                                                     const float* w1, const float* b, float* y,
                                                     int64_t N, int64_t K, int64_t n) {
  __m256 acc[MR][2][KU];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 2; ++j)
      for (int u = 0; u < KU; ++u) acc[i][j][u] = _mm256_setzero_ps();
  const int64_t step = 8 * KU;
  const int64_t k_main = K - K % step;
  for (int64_t k = 0; k < k_main; k += step) {
    for (int u = 0; u < KU; ++u) {
      const __m256 v0 = _mm256_loadu_ps(w0 + k + 8 * u), v1 = _mm256_loadu_ps(w1 + k + 8 * u);
      for (int i = 0; i < MR; ++i) {
        const __m256 xv = _mm256_loadu_ps(x + i * K + k + 8 * u);
        acc[i][0][u] = _mm256_fmadd_ps(xv, v0, acc[i][0][u]);
        acc[i][1][u] = _mm256_fmadd_ps(xv, v1, acc[i][1][u]);
      }
    }
  }
  // leftover whole vectors, then scalars
  int64_t k = k_main;
  for (; k + 8 <= K; k += 8) {
    const __m256 v0 = _mm256_loadu_ps(w0 + k), v1 = _mm256_loadu_ps(w1 + k);
    for (int i = 0; i < MR; ++i) {
      const __m256 xv = _mm256_loadu_ps(x + i * K + k);
      acc[i][0][0] = _mm256_fmadd_ps(xv, v0, acc[i][0][0]);
      acc[i][1][0] = _mm256_fmadd_ps(xv, v1, acc[i][1][0]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < 2; ++j) {
      __m256 sum = acc[i][j][0];
      for (int u = 1; u < KU; ++u) sum = _mm256_add_ps(sum, acc[i][j][u]);
      const float* wj = j == 0 ? w0 : w1;
      float s = hsum8(sum);
      for (int64_t kk = k; kk < K; ++kk) s += x[i * K + kk] * wj[kk];
      y[i * N + n + j] = s + (b ? b[n + j] : 0.f);
    }
  }
}

// y[m][n] = dot(x[m], w[n]) + b[n] for n in [n0, n1) (n1 - n0 even or n1 == N), all m. each pair
// of weight rows is loaded from memory once and reused from l1 for every x row.
__attribute__((target("avx2,fma"))) void kernel(const float* x, const float* w, const float* b,
                                                float* y, int64_t M, int64_t N, int64_t K,
                                                int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + 2 <= n1; n += 2) {
    const float* w0 = w + n * K;
    const float* w1 = w0 + K;
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) tile<4, 1>(x + m * K, w0, w1, b, y + m * N, N, K, n);
    if (m + 2 <= M) {
      tile<2, 2>(x + m * K, w0, w1, b, y + m * N, N, K, n);
      m += 2;
    }
    if (m < M) tile<1, 4>(x + m * K, w0, w1, b, y + m * N, N, K, n);
  }
  // an odd last weight row: pair it with itself and keep the first output
  if (n < n1) {
    const float* wn = w + n * K;
    for (int64_t m = 0; m < M; ++m) {
      float pair[2];
      tile<1, 4>(x + m * K, wn, wn, b ? b + n : nullptr, pair, 2, K, 0);
      y[m * N + n] = pair[0];
    }
  }
}

}  // namespace

torch::Tensor linear_small_m(const torch::Tensor& x, const torch::Tensor& weight,
                             const torch::Tensor& bias) {
  AVLA_CHECK(cpu_has_avx2_fma(), "linear", "the small-M kernel needs AVX2 and FMA");
  AVLA_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1), "linear",
             "x {} and weight {} do not match", c10::str(x.sizes()), c10::str(weight.sizes()));
  AVLA_CHECK(x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32,
             "linear", "small-M kernel takes float32");
  const int64_t M = x.size(0), K = x.size(1), N = weight.size(0);
  torch::Tensor xc = x.contiguous(), wc = weight.contiguous();
  torch::Tensor bc = bias.defined() ? bias.contiguous() : bias;
  torch::Tensor y = torch::empty({M, N}, x.options());
  const float* xp = xc.data_ptr<float>();
  const float* wp = wc.data_ptr<float>();
  const float* bp = bc.defined() ? bc.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  // split the weight rows over threads, even-sized chunks so tiles stay whole
  const int64_t grain = std::max<int64_t>(64, (65536 / std::max<int64_t>(1, K * M)) * 2);
  at::parallel_for(0, (N + 1) / 2, grain / 2, [&](int64_t begin, int64_t end) {
    kernel(xp, wp, bp, yp, M, N, K, begin * 2, std::min(N, end * 2));
  });
  return y;
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
  const int64_t rows = x.numel() / std::max<int64_t>(1, x.size(-1));
  const bool small = !torch::GradMode::is_enabled() && rows <= kSmallLinearMaxRows &&
                     x.scalar_type() == torch::kFloat32 &&
                     weight.scalar_type() == torch::kFloat32 && cpu_has_avx2_fma() &&
                     !at::autocast::is_cpu_enabled();
  if (!small) return torch::nn::functional::linear(x, weight, bias);
  std::vector<int64_t> out_shape = x.sizes().vec();
  out_shape.back() = weight.size(0);
  return linear_small_m(x.reshape({rows, x.size(-1)}), weight, bias).view(out_shape);
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer) {
  return linear(x, layer->weight, layer->bias);
}

}  // namespace avla
