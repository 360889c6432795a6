#include "model/linear.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <mutex>
#include <unordered_map>

#include "model/backend.h"
#include "model/simd.h"
#include "util/error.h"

namespace avla {

namespace {

// the weight in panels of kPanel output columns, k-major inside a panel: panel p holds
// w[p*kPanel + c][k] at [p][k][c], the last panel zero-padded. a panel row is two avx2 vectors,
// so the kernel needs no horizontal sums and streams the weight front to back exactly once.
constexpr int64_t kPanel = 16;

torch::Tensor pack_panels(const torch::Tensor& weight) {
  const int64_t N = weight.size(0), K = weight.size(1);
  const int64_t n_panel = (N + kPanel - 1) / kPanel;
  torch::Tensor padded = torch::zeros({n_panel * kPanel, K}, weight.options());
  padded.narrow(0, 0, N).copy_(weight);
  // (n_panel, kPanel, K) -> (n_panel, K, kPanel)
  return padded.view({n_panel, kPanel, K}).transpose(1, 2).contiguous();
}

// packed copies live as long as their weight: the entry holds a weak reference to the weight's
// TensorImpl (so its address cannot be reused while the entry exists) and the version counter
// the copy was made at (an in-place update such as an optimizer step makes it stale).
struct PackedEntry {
  c10::weak_intrusive_ptr<c10::TensorImpl> owner;
  uint32_t version = 0;
  torch::Tensor panels;
};

class PackedWeightCache {
 public:
  torch::Tensor get(const torch::Tensor& weight) {
    // tensors made under InferenceMode keep no version counter: never cache those
    if (weight.is_inference()) return pack_panels(weight.contiguous());
    const uint32_t version = weight._version();
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(weight.unsafeGetTensorImpl());
    if (it != entries_.end() && !it->second.owner.expired() && it->second.version == version) {
      return it->second.panels;
    }
    if (it == entries_.end()) prune();
    PackedEntry entry{c10::weak_intrusive_ptr<c10::TensorImpl>(weight.getIntrusivePtr()), version,
                      pack_panels(weight.contiguous())};
    torch::Tensor panels = entry.panels;
    entries_.insert_or_assign(weight.unsafeGetTensorImpl(), std::move(entry));
    return panels;
  }

 private:
  // drop the copies of weights that no longer exist
  void prune() {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.owner.expired() ? entries_.erase(it) : std::next(it);
    }
  }
  std::mutex mutex_;
  std::unordered_map<const c10::TensorImpl*, PackedEntry> entries_;
};

PackedWeightCache& packed_cache() {
  static PackedWeightCache cache;
  return cache;
}

// up to 5 rows of x against one panel: 10 accumulators of 8 columns held in named registers (gcc
// keeps an array of __m256 in memory and stores it back every k), one broadcast of x per row and
// k, two panel loads per k. rows past n_rows repeat the last row and are not written.
__attribute__((target("avx2,fma"))) inline void panel_tile(const float* x, int64_t K,
                                                           int64_t n_rows, const float* panel,
                                                           const float* bias, float* y, int64_t N,
                                                           int64_t n0, int64_t n_valid) {
  const float* x0 = x;
  const float* x1 = x + std::min<int64_t>(1, n_rows - 1) * K;
  const float* x2 = x + std::min<int64_t>(2, n_rows - 1) * K;
  const float* x3 = x + std::min<int64_t>(3, n_rows - 1) * K;
  const float* x4 = x + std::min<int64_t>(4, n_rows - 1) * K;
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00;
  for (int64_t k = 0; k < K; ++k) {
    const __m256 w0 = _mm256_loadu_ps(panel + k * kPanel);
    const __m256 w1 = _mm256_loadu_ps(panel + k * kPanel + 8);
    __m256 xb = _mm256_broadcast_ss(x0 + k);
    c00 = _mm256_fmadd_ps(xb, w0, c00);
    c01 = _mm256_fmadd_ps(xb, w1, c01);
    xb = _mm256_broadcast_ss(x1 + k);
    c10 = _mm256_fmadd_ps(xb, w0, c10);
    c11 = _mm256_fmadd_ps(xb, w1, c11);
    xb = _mm256_broadcast_ss(x2 + k);
    c20 = _mm256_fmadd_ps(xb, w0, c20);
    c21 = _mm256_fmadd_ps(xb, w1, c21);
    xb = _mm256_broadcast_ss(x3 + k);
    c30 = _mm256_fmadd_ps(xb, w0, c30);
    c31 = _mm256_fmadd_ps(xb, w1, c31);
    xb = _mm256_broadcast_ss(x4 + k);
    c40 = _mm256_fmadd_ps(xb, w0, c40);
    c41 = _mm256_fmadd_ps(xb, w1, c41);
  }
  const __m256 acc[5][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}};
  alignas(32) float row[kPanel];
  for (int64_t i = 0; i < std::min<int64_t>(5, n_rows); ++i) {
    _mm256_store_ps(row, acc[i][0]);
    _mm256_store_ps(row + 8, acc[i][1]);
    float* out = y + i * N + n0;
    for (int64_t c = 0; c < n_valid; ++c) out[c] = row[c] + (bias ? bias[n0 + c] : 0.f);
  }
}

// y[m][n] = dot(x[m], w[n]) + b[n] for the panels [p0, p1), all M rows in blocks of 5
__attribute__((target("avx2,fma"))) void panel_kernel(const float* x, const float* panels,
                                                      const float* bias, float* y, int64_t M,
                                                      int64_t N, int64_t K, int64_t p0,
                                                      int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* panel = panels + p * K * kPanel;
    const int64_t n0 = p * kPanel, n_valid = std::min(kPanel, N - n0);
    for (int64_t m = 0; m < M; m += 5) {
      panel_tile(x + m * K, K, std::min<int64_t>(5, M - m), panel, bias, y + m * N, N, n0, n_valid);
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
  torch::Tensor xc = x.contiguous();
  torch::Tensor panels = packed_cache().get(weight);
  torch::Tensor bc = bias.defined() ? bias.contiguous() : bias;
  torch::Tensor y = torch::empty({M, N}, x.options());
  const float* xp = xc.data_ptr<float>();
  const float* pp = panels.data_ptr<float>();
  const float* bp = bc.defined() ? bc.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  // split the panels over threads; a chunk is worth a thread at ~64k multiply-adds
  const int64_t n_panel = panels.size(0);
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, M * K * kPanel));
  at::parallel_for(0, n_panel, grain, [&](int64_t begin, int64_t end) {
    panel_kernel(xp, pp, bp, yp, M, N, K, begin, end);
  });
  return y;
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
  const int64_t rows = x.numel() / std::max<int64_t>(1, x.size(-1));
  const bool small = !torch::GradMode::is_enabled() && rows <= kSmallLinearMaxRows &&
                     x.scalar_type() == torch::kFloat32 &&
                     weight.scalar_type() == torch::kFloat32 && use_cpu_kernels(x) &&
                     weight.is_cpu() && !at::autocast::is_cpu_enabled();
  if (!small) return torch::nn::functional::linear(x, weight, bias);
  std::vector<int64_t> out_shape = x.sizes().vec();
  out_shape.back() = weight.size(0);
  return linear_small_m(x.reshape({rows, x.size(-1)}), weight, bias).view(out_shape);
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer) {
  return linear(x, layer->weight, layer->bias);
}

}  // namespace avla
