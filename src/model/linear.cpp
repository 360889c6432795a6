#include "model/linear.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "model/autocast.h"
#include "model/backend.h"
#include "model/kernels.h"
#include "model/lanes.h"
#include "model/simd.h"
#include "util/error.h"

namespace avla {

namespace {

// whether the fp32 small-M kernel may use avx-512 where the cpu has it (set_linear_avx512)
std::atomic<bool> g_linear_avx512{true};

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

// the weight rounded to bf16, in panels of kPanel output columns and pairs of k: panel p holds
// w[p*kPanel + c][2*k2 + j] at [p][k2][c][j], k and the last panel zero-padded. one 512-bit load
// is 16 columns x 2 k, which vdpbf16ps multiplies with a broadcast input pair into 16 fp32 sums
torch::Tensor pack_panels_bf16(const torch::Tensor& weight) {
  const int64_t N = weight.size(0), K = weight.size(1);
  const int64_t n_panel = (N + kPanel - 1) / kPanel, K2 = (K + 1) / 2;
  torch::Tensor padded = torch::zeros({n_panel * kPanel, 2 * K2}, weight.options());
  padded.narrow(0, 0, N).narrow(1, 0, K).copy_(weight);
  // (n_panel, kPanel, K2, 2) -> (n_panel, K2, kPanel, 2)
  return padded.to(torch::kBFloat16)
      .view({n_panel, kPanel, K2, 2})
      .permute({0, 2, 1, 3})
      .contiguous();
}

class PackedWeightCache {
 public:
  using PackFn = torch::Tensor (*)(const torch::Tensor&);
  explicit PackedWeightCache(PackFn pack) : pack_(pack) {}

  torch::Tensor get(const torch::Tensor& weight) {
    // tensors made under InferenceMode keep no version counter: never cache those
    if (weight.is_inference()) return pack_(weight.contiguous());
    const uint32_t version = weight._version();
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(weight.unsafeGetTensorImpl());
    if (it != entries_.end() && !it->second.owner.expired() && it->second.version == version) {
      return it->second.panels;
    }
    if (it == entries_.end()) prune();
    PackedEntry entry{c10::weak_intrusive_ptr<c10::TensorImpl>(weight.getIntrusivePtr()), version,
                      pack_(weight.contiguous())};
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
  PackFn pack_;
  std::mutex mutex_;
  std::unordered_map<const c10::TensorImpl*, PackedEntry> entries_;
};

PackedWeightCache& packed_cache() {
  static PackedWeightCache cache(pack_panels);
  return cache;
}

PackedWeightCache& packed_cache_bf16() {
  static PackedWeightCache cache(pack_panels_bf16);
  return cache;
}

// a tile's row of kPanel sums to y[n0, n0 + n_valid): plus the bias where given, then plus the
// residual row where given (it may be y itself: each element is read before it is written)
inline void store_row(const float* row, const float* bias, float* y, const float* res, int64_t n0,
                      int64_t n_valid) {
  for (int64_t c = 0; c < n_valid; ++c) {
    const float v = row[c] + (bias ? bias[n0 + c] : 0.f);
    y[n0 + c] = res != nullptr ? res[n0 + c] + v : v;
  }
}

// up to 5 rows of x against one panel: 10 accumulators of 8 columns held in named registers (gcc
// keeps an array of __m256 in memory and stores it back every k), one broadcast of x per row and
// k, two panel loads per k. rows past n_rows repeat the last row and are not written.
__attribute__((target("avx2,fma"))) inline void panel_tile(const float* x, int64_t K,
                                                           int64_t n_rows, const float* panel,
                                                           const float* bias, float* y, int64_t ld,
                                                           const float* res, int64_t n0,
                                                           int64_t n_valid) {
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
    store_row(row, bias, y + i * ld, res != nullptr ? res + i * ld : nullptr, n0, n_valid);
  }
}

// y[m][n] = dot(x[m], w[n]) + b[n] (+ res[m][n]) for the panels [p0, p1), all M rows in blocks
// of 5; y and res rows ld apart
__attribute__((target("avx2,fma"))) void panel_kernel(const float* x, const float* panels,
                                                      const float* bias, float* y, int64_t ld,
                                                      const float* res, int64_t M, int64_t N,
                                                      int64_t K, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* panel = panels + p * K * kPanel;
    const int64_t n0 = p * kPanel, n_valid = std::min(kPanel, N - n0);
    for (int64_t m = 0; m < M; m += 5) {
      panel_tile(x + m * K, K, std::min<int64_t>(5, M - m), panel, bias, y + m * ld, ld,
                 res != nullptr ? res + m * ld : nullptr, n0, n_valid);
    }
  }
}

// one bf16 pair of a row (two consecutive k) as the 32-bit lane vdpbf16ps broadcasts
inline int32_t bf16_pair(const uint16_t* row, int64_t k2) {
  int32_t pair;
  std::memcpy(&pair, row + 2 * k2, sizeof(pair));
  return pair;
}

// the avx-512 tiles: R rows of x (R <= 12) against one panel of 16 columns, R accumulators in
// named registers (avx-512 has 32; gcc keeps an array of vectors in memory), one panel load and
// one broadcast per row for every k (fp32) or pair of k (bf16). R is a template argument so a
// tile computes only the rows it has: a denoising step's 10 rows are one tile of 10.
// AVLA_TILE(ROW) expands ROW(i) for the tile's rows; AVLA_TILE(AVLA_TILE_STORE_ROW) writes them
#define AVLA_TILE(ROW) \
  ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11)
#define AVLA_TILE_STORE_ROW(i)                                                              \
  if constexpr (R > i) {                                                                    \
    _mm512_store_ps(row, c##i);                                                             \
    store_row(row, bias, y + i * ld, res != nullptr ? res + i * ld : nullptr, n0, n_valid); \
  }
#define AVLA_TILE_ACCUMULATORS                                                                    \
  static_assert(R >= 1 && R <= 12, "an avx-512 tile holds 1 to 12 rows");                         \
  __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, \
         c8 = c0, c9 = c0, c10 = c0, c11 = c0

// bf16: x in pairs of k (K2 pairs a row), the panel 16 columns x 2 k per vector
#define AVLA_BF16_ROW(i)                                                                         \
  if constexpr (R > i) {                                                                         \
    c##i = _mm512_dpbf16_ps(c##i, w, (__m512bh)_mm512_set1_epi32(bf16_pair(x + i * 2 * K2, k))); \
  }
template <int R>
__attribute__((target("avx512f,avx512bf16"))) void panel_tile_bf16(const uint16_t* x, int64_t K2,
                                                                   const uint16_t* panel,
                                                                   const float* bias, float* y,
                                                                   int64_t ld, const float* res,
                                                                   int64_t n0, int64_t n_valid) {
  AVLA_TILE_ACCUMULATORS;
  for (int64_t k = 0; k < K2; ++k) {
    const __m512bh w = (__m512bh)_mm512_loadu_si512(panel + k * 2 * kPanel);
    AVLA_TILE(AVLA_BF16_ROW)
  }
  alignas(64) float row[kPanel];
  AVLA_TILE(AVLA_TILE_STORE_ROW)
}

// fp32 on the avx2 kernel's panels (16 columns, k-major): one vector is a panel row
#define AVLA_F32_ROW(i)                                            \
  if constexpr (R > i) {                                           \
    c##i = _mm512_fmadd_ps(_mm512_set1_ps(x[i * K + k]), w, c##i); \
  }
template <int R>
__attribute__((target("avx512f"))) void panel_tile_f32(const float* x, int64_t K,
                                                       const float* panel, const float* bias,
                                                       float* y, int64_t ld, const float* res,
                                                       int64_t n0, int64_t n_valid) {
  AVLA_TILE_ACCUMULATORS;
  for (int64_t k = 0; k < K; ++k) {
    const __m512 w = _mm512_loadu_ps(panel + k * kPanel);
    AVLA_TILE(AVLA_F32_ROW)
  }
  alignas(64) float row[kPanel];
  AVLA_TILE(AVLA_TILE_STORE_ROW)
}
#undef AVLA_TILE
#undef AVLA_TILE_STORE_ROW
#undef AVLA_TILE_ACCUMULATORS
#undef AVLA_BF16_ROW
#undef AVLA_F32_ROW

template <typename T>
using Tile = void (*)(const T*, int64_t, const T*, const float*, float*, int64_t, const float*,
                      int64_t, int64_t);
constexpr Tile<uint16_t> kBf16Tiles[12] = {
    panel_tile_bf16<1>, panel_tile_bf16<2>,  panel_tile_bf16<3>,  panel_tile_bf16<4>,
    panel_tile_bf16<5>, panel_tile_bf16<6>,  panel_tile_bf16<7>,  panel_tile_bf16<8>,
    panel_tile_bf16<9>, panel_tile_bf16<10>, panel_tile_bf16<11>, panel_tile_bf16<12>};
constexpr Tile<float> kF32Tiles[12] = {panel_tile_f32<1>,  panel_tile_f32<2>,  panel_tile_f32<3>,
                                       panel_tile_f32<4>,  panel_tile_f32<5>,  panel_tile_f32<6>,
                                       panel_tile_f32<7>,  panel_tile_f32<8>,  panel_tile_f32<9>,
                                       panel_tile_f32<10>, panel_tile_f32<11>, panel_tile_f32<12>};

// the panels [p0, p1) through an avx-512 tile table, all M rows in as few tiles of at most 12 as
// there can be, of equal height (49 rows: 10 + 10 + 10 + 10 + 9). row_len: x's elements a row
// (K, or 2 K2 for bf16), panel_len: a panel's elements, k_len: the tile's k loop (K or K2);
// y and res rows ld apart
template <typename T>
void panel_kernel_avx512(const Tile<T>* tiles, const T* x, const T* panels, const float* bias,
                         float* y, int64_t ld, const float* res, int64_t M, int64_t N,
                         int64_t row_len, int64_t panel_len, int64_t k_len, int64_t p0,
                         int64_t p1) {
  const int64_t n_tile = (M + 11) / 12, height = (M + n_tile - 1) / n_tile;
  for (int64_t p = p0; p < p1; ++p) {
    const T* panel = panels + p * panel_len;
    const int64_t n0 = p * kPanel, n_valid = std::min(kPanel, N - n0);
    for (int64_t m = 0; m < M; m += height) {
      const int64_t rows = std::min(height, M - m);
      tiles[rows - 1](x + m * row_len, k_len, panel, bias, y + m * ld, ld,
                      res != nullptr ? res + m * ld : nullptr, n0, n_valid);
    }
  }
}

void check_small_m_args(const torch::Tensor& x, const torch::Tensor& weight) {
  AVLA_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1), "linear",
             "x {} and weight {} do not match", c10::str(x.sizes()), c10::str(weight.sizes()));
  AVLA_CHECK(x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32,
             "linear", "small-M kernel takes float32");
}

// one row of K values to bf16, padded with a zero to an even length
__attribute__((target("avx2,fma"))) void round_row_bf16(const float* x, int64_t K, uint16_t* out) {
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) store_bf16x8(out + k, _mm256_loadu_ps(x + k));
  for (; k < K; ++k) out[k] = c10::BFloat16(x[k]).x;
  if (K % 2 == 1) out[K] = 0;
}

// y (M, N) from x (M, K) through w's panels, split over threads: a thread's share of panels is
// worth at least 65536 multiply-adds (a vdpbf16ps does two a lane: twice that for bf16)
torch::Tensor run_linear(const PackedLinear& w, const torch::Tensor& x) {
  const int64_t M = x.size(0), K = x.size(1);
  torch::Tensor xc = x.contiguous(), xb;
  const void* xp = xc.data_ptr<float>();
  if (w.bf16) {
    xb = torch::empty({M, 2 * ((K + 1) / 2)}, x.options().dtype(torch::kBFloat16));
    round_rows_bf16(xc.data_ptr<float>(), M, K, reinterpret_cast<uint16_t*>(xb.data_ptr()));
    xp = xb.data_ptr();
  }
  torch::Tensor y = torch::empty({M, w.n_out}, x.options());
  float* yp = y.data_ptr<float>();
  const int64_t min_macs = w.bf16 ? 131072 : 65536;
  const int64_t grain = std::max<int64_t>(1, min_macs / std::max<int64_t>(1, M * K * kPanel));
  at::parallel_for(0, w.n_panel, grain, [&](int64_t begin, int64_t end) {
    linear_panels(w, xp, M, yp, w.n_out, nullptr, begin, end);
  });
  return y;
}

PackedLinear pack(const torch::Tensor& weight, const torch::Tensor& bias, bool bf16) {
  PackedLinear w;
  w.panels = bf16 ? packed_cache_bf16().get(weight) : packed_cache().get(weight);
  w.bias = bias.defined() ? bias.contiguous() : bias;
  w.n_out = weight.size(0);
  w.n_in = weight.size(1);
  w.n_panel = w.panels.size(0);
  w.bf16 = bf16;
  w.avx512 = cpu_has_avx512f() && g_linear_avx512.load(std::memory_order_relaxed);
  return w;
}

}  // namespace

PackedLinear pack_linear(const torch::Tensor& weight, const torch::Tensor& bias) {
  AVLA_CHECK(weight.dim() == 2 && weight.scalar_type() == torch::kFloat32 && weight.is_cpu(),
             "linear", "packing takes a 2-d float32 cpu weight, got {} {}",
             c10::str(weight.sizes()), c10::toString(weight.scalar_type()));
  AVLA_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), "linear",
             "bias {} does not match weight {}", c10::str(bias.sizes()), c10::str(weight.sizes()));
  const bool bf16 = kernel_precision() == Precision::Bf16;
  AVLA_CHECK(bf16 ? cpu_has_avx512_bf16() : cpu_has_avx2_fma(), "linear", "the {} kernel needs {}",
             bf16 ? "bf16" : "fp32", bf16 ? "avx512-bf16" : "avx2 and fma");
  return pack(weight, bias, bf16);
}

PackedLinear pack_linear(const torch::nn::Linear& layer) {
  return pack_linear(layer->weight, layer->bias);
}

void round_rows_bf16(const float* x, int64_t M, int64_t K, uint16_t* out) {
  const int64_t row_len = 2 * ((K + 1) / 2);
  for (int64_t m = 0; m < M; ++m) round_row_bf16(x + m * K, K, out + m * row_len);
}

void linear_panels(const PackedLinear& w, const void* x, int64_t M, float* y, int64_t ld,
                   const float* residual, int64_t p0, int64_t p1) {
  const float* bp = w.bias.defined() ? w.bias.data_ptr<float>() : nullptr;
  const int64_t N = w.n_out, K = w.n_in;
  if (w.bf16) {
    const int64_t K2 = (K + 1) / 2;
    const auto* pp = reinterpret_cast<const uint16_t*>(w.panels.data_ptr());
    panel_kernel_avx512(kBf16Tiles, static_cast<const uint16_t*>(x), pp, bp, y, ld, residual, M, N,
                        2 * K2, K2 * 2 * kPanel, K2, p0, p1);
  } else if (w.avx512) {
    panel_kernel_avx512(kF32Tiles, static_cast<const float*>(x), w.panels.data_ptr<float>(), bp, y,
                        ld, residual, M, N, K, K * kPanel, K, p0, p1);
  } else {
    panel_kernel(static_cast<const float*>(x), w.panels.data_ptr<float>(), bp, y, ld, residual, M,
                 N, K, p0, p1);
  }
}

torch::Tensor linear_small_m_bf16(const torch::Tensor& x, const torch::Tensor& weight,
                                  const torch::Tensor& bias) {
  AVLA_CHECK(cpu_has_avx512_bf16(), "linear", "the bf16 kernel needs avx512-bf16");
  check_small_m_args(x, weight);
  return run_linear(pack(weight, bias, /*bf16=*/true), x);
}

torch::Tensor linear_small_m(const torch::Tensor& x, const torch::Tensor& weight,
                             const torch::Tensor& bias) {
  AVLA_CHECK(cpu_has_avx2_fma(), "linear", "the small-M kernel needs AVX2 and FMA");
  check_small_m_args(x, weight);
  return run_linear(pack(weight, bias, /*bf16=*/false), x);
}

void set_linear_avx512(bool on) {
  g_linear_avx512.store(on);
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
  const int64_t rows = x.numel() / std::max<int64_t>(1, x.size(-1));
  const bool small = !torch::GradMode::is_enabled() && rows <= kSmallLinearMaxRows &&
                     x.scalar_type() == torch::kFloat32 &&
                     weight.scalar_type() == torch::kFloat32 && use_cpu_kernels(x) &&
                     weight.is_cpu() && !autocast_enabled(c10::kCPU);
  std::vector<int64_t> out_shape = x.sizes().vec();
  out_shape.back() = weight.size(0);
  if (!small) {
    // rows of a (..., in) input with a bias go through one addmm, the bias summed into the GEMM's
    // output; LibTorch 1.13 runs matmul and then an in-place bias add (two more passes, and a
    // type-converting copy under autocast) for anything but 2-D or contiguous 3-D inputs
    if (!bias.defined() || x.dim() == 2) return torch::nn::functional::linear(x, weight, bias);
    return torch::nn::functional::linear(x.reshape({rows, x.size(-1)}), weight, bias)
        .view(out_shape);
  }
  const torch::Tensor x2 = x.reshape({rows, x.size(-1)});
  const torch::Tensor y = kernel_precision() == Precision::Bf16
                              ? linear_small_m_bf16(x2, weight, bias)
                              : linear_small_m(x2, weight, bias);
  return y.view(out_shape);
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer) {
  return linear(x, layer->weight, layer->bias);
}

}  // namespace avla
