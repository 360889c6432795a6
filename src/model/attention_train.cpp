#include "model/attention_train.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "model/backend.h"
#include "model/lanes.h"
#include "model/simd.h"

namespace avla {

namespace {

// n values of fp32 or bf16 storage to fp32 and back, eight a vector, the tail through a padded
// buffer
template <typename T>
__attribute__((target("avx2,fma"))) void widen_row(const T* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, Lanes<T>::load(src + i));
  if (i < n) {
    alignas(32) T in[8] = {};
    alignas(32) float out[8];
    std::copy(src + i, src + n, in);
    _mm256_store_ps(out, Lanes<T>::load(in));
    std::copy(out, out + (n - i), dst + i);
  }
}

template <typename T>
__attribute__((target("avx2,fma"))) void narrow_row(const float* src, T* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) Lanes<T>::store(dst + i, _mm256_loadu_ps(src + i));
  if (i < n) {
    alignas(32) float in[8] = {};
    alignas(32) T out[8];
    std::copy(src + i, src + n, in);
    Lanes<T>::store(out, _mm256_load_ps(in));
    std::copy(out, out + (n - i), dst + i);
  }
}

// ---- split_rotate_heads ----

// one head's row of hd values: forward, out = x cos + rotate_half(x) sin, that is
// out1 = x1 c1 - x2 s1, out2 = x2 c2 + x1 s2 (halves of hd); backward, its adjoint
// dx1 = g1 c1 + g2 s2, dx2 = g2 c2 - g1 s1. no tables: a copy either way
template <typename T, bool kBackward>
__attribute__((target("avx2,fma"))) void rotate_row(const T* x, const float* c, const float* s,
                                                    int64_t hd, T* out) {
  if (c == nullptr) {
    std::copy(x, x + hd, out);
    return;
  }
  const int64_t half = hd / 2;
  for (int64_t i = 0; i < half; i += 8) {
    const __m256 x1 = Lanes<T>::load(x + i), x2 = Lanes<T>::load(x + half + i);
    const __m256 c1 = _mm256_loadu_ps(c + i), c2 = _mm256_loadu_ps(c + half + i);
    const __m256 s1 = _mm256_loadu_ps(s + i), s2 = _mm256_loadu_ps(s + half + i);
    if (kBackward) {
      Lanes<T>::store(out + i, _mm256_fmadd_ps(x2, s2, _mm256_mul_ps(x1, c1)));
      Lanes<T>::store(out + half + i, _mm256_fnmadd_ps(x1, s1, _mm256_mul_ps(x2, c2)));
    } else {
      Lanes<T>::store(out + i, _mm256_fnmadd_ps(x2, s1, _mm256_mul_ps(x1, c1)));
      Lanes<T>::store(out + half + i, _mm256_fmadd_ps(x1, s2, _mm256_mul_ps(x2, c2)));
    }
  }
}

// the heads of the split: q (B, H, T, hd), k and v (B, Hkv, T, hd), each contiguous; a null one
// (an undefined gradient) counts as zero
template <typename T>
struct SplitHeads {
  T *q, *k, *v;
  int64_t n_head, n_kv_head;
  // head h of the packed row (b, t): where it goes, and whether it is rotated
  T* row(int64_t b, int64_t t, int64_t h, int64_t T_len, int64_t hd) const {
    if (h < n_head) return q == nullptr ? nullptr : q + ((b * n_head + h) * T_len + t) * hd;
    h -= n_head;
    T* dst = h < n_kv_head ? k : v;
    h %= n_kv_head;
    return dst == nullptr ? nullptr : dst + ((b * n_kv_head + h) * T_len + t) * hd;
  }
};

// the (b, t) rows of qkv (B, T, H + 2 Hkv, hd) against the split heads: forward reads qkv and
// writes q, k and v (q and k rotated), backward reads their gradients and writes qkv's
template <typename T, bool kBackward>
void split_rotate_rows(T* qkv, const SplitHeads<T>& split, const float* cos, const float* sin,
                       int64_t B, int64_t T_len, int64_t hd) {
  const int64_t n_rot = split.n_head + split.n_kv_head, heads = n_rot + split.n_kv_head;
  at::parallel_for(0, B * T_len, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / T_len, t = r % T_len;
      T* packed = qkv + r * heads * hd;
      const float* c = cos != nullptr ? cos + t * hd : nullptr;
      const float* s = sin != nullptr ? sin + t * hd : nullptr;
      for (int64_t h = 0; h < heads; ++h) {
        T* head = split.row(b, t, h, T_len, hd);
        T* p = packed + h * hd;
        const float* rot = h < n_rot ? c : nullptr;
        if (!kBackward) {
          rotate_row<T, false>(p, rot, s, hd, head);
        } else if (head == nullptr) {
          std::fill(p, p + hd, T(0));
        } else {
          rotate_row<T, true>(head, rot, s, hd, p);
        }
      }
    }
  });
}

// a rotary table's data, or null for the empty table of no rotary
const float* table_ptr(const torch::Tensor& table) {
  return table.numel() > 0 ? table.data_ptr<float>() : nullptr;
}

struct SplitRotateFunction : torch::autograd::Function<SplitRotateFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& qkv_in,
                                                const torch::Tensor& cos, const torch::Tensor& sin,
                                                int64_t n_kv_head) {
    const torch::Tensor qkv = qkv_in.contiguous();
    const int64_t B = qkv.size(0), T = qkv.size(1), hd = qkv.size(3);
    const int64_t n_head = qkv.size(2) - 2 * n_kv_head;
    torch::Tensor q = torch::empty({B, n_head, T, hd}, qkv.options());
    torch::Tensor k = torch::empty({B, n_kv_head, T, hd}, qkv.options());
    torch::Tensor v = torch::empty_like(k);
    with_lanes(qkv.scalar_type(), [&](auto lane) {
      using L = decltype(lane);
      const SplitHeads<L> split{lanes_ptr<L>(q), lanes_ptr<L>(k), lanes_ptr<L>(v), n_head,
                                n_kv_head};
      split_rotate_rows<L, false>(lanes_ptr<L>(qkv), split, table_ptr(cos), table_ptr(sin), B, T,
                                  hd);
    });
    ctx->saved_data["cos"] = cos;
    ctx->saved_data["sin"] = sin;
    ctx->saved_data["n_kv_head"] = n_kv_head;
    ctx->saved_data["shape"] = qkv.sizes().vec();
    ctx->saved_data["dtype"] = qkv.scalar_type();
    return {q, k, v};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor cos = ctx->saved_data["cos"].toTensor();
    const torch::Tensor sin = ctx->saved_data["sin"].toTensor();
    const int64_t n_kv_head = ctx->saved_data["n_kv_head"].toInt();
    const std::vector<int64_t> shape = ctx->saved_data["shape"].toIntVector();
    const torch::ScalarType dtype = ctx->saved_data["dtype"].toScalarType();
    const int64_t B = shape[0], T = shape[1], hd = shape[3], n_head = shape[2] - 2 * n_kv_head;
    auto grad = [&](const torch::Tensor& g) {
      return g.defined() ? g.to(dtype).contiguous() : torch::Tensor();
    };
    const torch::Tensor d_q = grad(grads[0]), d_k = grad(grads[1]), d_v = grad(grads[2]);
    torch::Tensor d_qkv = torch::empty(shape, torch::TensorOptions().dtype(dtype));
    with_lanes(dtype, [&](auto lane) {
      using L = decltype(lane);
      auto ptr = [](const torch::Tensor& t) { return t.defined() ? lanes_ptr<L>(t) : nullptr; };
      const SplitHeads<L> split{ptr(d_q), ptr(d_k), ptr(d_v), n_head, n_kv_head};
      split_rotate_rows<L, true>(lanes_ptr<L>(d_qkv), split, table_ptr(cos), table_ptr(sin), B, T,
                                 hd);
    });
    return {d_qkv, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// ---- scaled_masked_softmax ----

// the rows of scores (B, X, T, S) with their mask rows: row r is (b, x, t)
struct SoftmaxRows {
  int64_t B, X, T, S;
  const float* mask = nullptr;  // (B or 1, 1, T or 1, S) fp32, strides below
  int64_t mask_stride_b = 0, mask_stride_t = 0;
  const float* mask_row(int64_t r) const {
    if (mask == nullptr) return nullptr;
    const int64_t b = r / (X * T), t = r % T;
    return mask + b * mask_stride_b + t * mask_stride_t;
  }
};

// p = softmax(s scale + mask) per row, in fp32 scratch, stored as T
template <typename T>
void softmax_rows(const SoftmaxRows& rows, const T* scores, float scale, T* probs) {
  const int64_t S = rows.S;
  at::parallel_for(0, rows.B * rows.X * rows.T, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> row(S);
    for (int64_t r = begin; r < end; ++r) {
      widen_row(scores + r * S, row.data(), S);
      const float* m = rows.mask_row(r);
      float max_score = -INFINITY;
      for (int64_t j = 0; j < S; ++j) {
        row[j] = row[j] * scale + (m != nullptr ? m[j] : 0.f);
        max_score = std::max(max_score, row[j]);
      }
      const float inv_total = 1.0f / exp_shifted_sum_f32(row.data(), max_score, S);
      for (int64_t j = 0; j < S; ++j) row[j] *= inv_total;
      narrow_row(row.data(), probs + r * S, S);
    }
  });
}

// ds = scale p (dp - sum_j dp_j p_j) per row
template <typename T>
void softmax_backward_rows(int64_t n_rows, int64_t S, const T* probs, const T* d_probs, float scale,
                           T* d_scores) {
  at::parallel_for(0, n_rows, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> p(S), dp(S);
    for (int64_t r = begin; r < end; ++r) {
      widen_row(probs + r * S, p.data(), S);
      widen_row(d_probs + r * S, dp.data(), S);
      float dot = 0.f;
      for (int64_t j = 0; j < S; ++j) dot += p[j] * dp[j];
      for (int64_t j = 0; j < S; ++j) dp[j] = scale * p[j] * (dp[j] - dot);
      narrow_row(dp.data(), d_scores + r * S, S);
    }
  });
}

struct SoftmaxFunction : torch::autograd::Function<SoftmaxFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& scores,
                               const torch::Tensor& mask, double scale) {
    const torch::Tensor s = scores.contiguous();
    SoftmaxRows rows{s.size(0), s.size(1), s.size(2), s.size(3)};
    torch::Tensor m;
    if (mask.numel() > 0) {
      m = mask.expand({rows.B, 1, rows.T, rows.S});
      if (m.stride(3) != 1) m = m.contiguous();
      rows.mask = m.data_ptr<float>();
      rows.mask_stride_b = m.stride(0);
      rows.mask_stride_t = m.stride(2);
    }
    torch::Tensor probs = torch::empty_like(s);
    with_lanes(s.scalar_type(), [&](auto lane) {
      using L = decltype(lane);
      softmax_rows(rows, lanes_ptr<L>(s), static_cast<float>(scale), lanes_ptr<L>(probs));
    });
    ctx->save_for_backward({probs});
    ctx->saved_data["scale"] = scale;
    return probs;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor probs = ctx->get_saved_variables()[0];
    const float scale = static_cast<float>(ctx->saved_data["scale"].toDouble());
    const torch::Tensor d_probs = grads[0].to(probs.scalar_type()).contiguous();
    torch::Tensor d_scores = torch::empty_like(probs);
    const int64_t S = probs.size(3);
    with_lanes(probs.scalar_type(), [&](auto lane) {
      using L = decltype(lane);
      softmax_backward_rows(probs.numel() / S, S, lanes_ptr<L>(probs), lanes_ptr<L>(d_probs), scale,
                            lanes_ptr<L>(d_scores));
    });
    return {d_scores, torch::Tensor(), torch::Tensor()};
  }
};

bool float_or_bf16(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kBFloat16;
}

}  // namespace

bool attention_train_kernels_take(const torch::Tensor& qkv, const RotaryTable& rope,
                                  const torch::Tensor& mask, int64_t S) {
  if (qkv.dim() != 4 || !float_or_bf16(qkv) || qkv.size(3) % 16 != 0 || !use_cpu_kernels(qkv)) {
    return false;
  }
  const int64_t B = qkv.size(0), T = qkv.size(1), hd = qkv.size(3);
  if (rope.cos.defined()) {
    for (const torch::Tensor& table : {rope.cos, rope.sin}) {
      if (table.dim() != 2 || table.size(0) != T || table.size(1) != hd || !table.is_cpu() ||
          table.requires_grad()) {
        return false;
      }
    }
  }
  return !mask.defined() ||
         (mask.dim() == 4 && mask.scalar_type() == torch::kFloat32 && mask.is_cpu() &&
          !mask.requires_grad() && (mask.size(0) == B || mask.size(0) == 1) && mask.size(1) == 1 &&
          (mask.size(2) == T || mask.size(2) == 1) && mask.size(3) == S);
}

std::vector<torch::Tensor> split_rotate_heads(const torch::Tensor& qkv, const RotaryTable& rope,
                                              int64_t n_kv_head) {
  // no rotary: empty tables (an autograd function's tensor arguments must be defined)
  torch::Tensor cos = torch::empty({0}), sin = cos;
  if (rope.cos.defined()) {
    cos = rope.cos.to(torch::kFloat32).contiguous();
    sin = rope.sin.to(torch::kFloat32).contiguous();
  }
  return SplitRotateFunction::apply(qkv, cos, sin, n_kv_head);
}

torch::Tensor scaled_masked_softmax(const torch::Tensor& scores, const torch::Tensor& mask,
                                    double scale) {
  // no mask: an empty one (an autograd function's tensor arguments must be defined)
  return SoftmaxFunction::apply(scores, mask.defined() ? mask : torch::empty({0}), scale);
}

}  // namespace avla
