#include "model/attention.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "model/attention_train.h"
#include "model/backend.h"
#include "model/kernels.h"
#include "model/lanes.h"
#include "model/linear.h"
#include "model/simd.h"

namespace avla {

RotaryTable RotaryTable::make(int64_t max_positions, int64_t head_dim, double theta) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor inv_freq =
      1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, opts) / static_cast<double>(head_dim));
  torch::Tensor pos = torch::arange(max_positions, opts);
  torch::Tensor freqs = torch::outer(pos, inv_freq);           // (P, hd/2)
  torch::Tensor emb = torch::cat({freqs, freqs}, /*dim=*/-1);  // (P, hd)
  return {emb.cos().to(torch::kFloat32), emb.sin().to(torch::kFloat32)};
}

RotaryTable RotaryTable::slice(int64_t start, int64_t n) const {
  return {cos.narrow(0, start, n), sin.narrow(0, start, n)};
}

void RotaryTable::place_on(const torch::Device& device) {
  follow_device(cos, device);
  follow_device(sin, device);
}

torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTable& rope) {
  // rotate half: [x1, x2] -> [-x2, x1]. split, not two narrows: under autograd a narrow's
  // backward zero-fills a gradient of x's full size and the two are then summed; split's is one cat
  int64_t half = x.size(-1) / 2;
  const std::vector<torch::Tensor> halves = x.split(half, -1);
  torch::Tensor rotated = torch::cat({-halves[1], halves[0]}, -1);
  torch::Tensor cos = rope.cos.to(x.scalar_type());
  torch::Tensor sin = rope.sin.to(x.scalar_type());
  return x * cos + rotated * sin;
}

namespace {

// scores[j] = sum_i q[i] keys_t[i * n + j] for j < n, n a multiple of 8: q[i] broadcast against
// eight keys a vector, four vectors in flight, no horizontal sums
__attribute__((target("avx2,fma"))) void scores_row(const float* q, const float* keys_t, int64_t hd,
                                                    int64_t n, float* scores) {
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < hd; ++i) {
      const __m256 qi = _mm256_set1_ps(q[i]);
      const float* k = keys_t + i * n + j;
      a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k), a0);
      a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 8), a1);
      a2 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 16), a2);
      a3 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 24), a3);
    }
    _mm256_storeu_ps(scores + j, a0);
    _mm256_storeu_ps(scores + j + 8, a1);
    _mm256_storeu_ps(scores + j + 16, a2);
    _mm256_storeu_ps(scores + j + 24, a3);
  }
  for (; j < n; j += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int64_t i = 0; i < hd; ++i) {
      a = _mm256_fmadd_ps(_mm256_set1_ps(q[i]), _mm256_loadu_ps(keys_t + i * n + j), a);
    }
    _mm256_storeu_ps(scores + j, a);
  }
}

// a0 + a1 += sum_{j < n} p[j] v[j * hd + c .. c + 8], two rows in flight
__attribute__((target("avx2,fma"))) inline void accumulate_rows(const float* p, const float* v,
                                                                int64_t n, int64_t hd, int64_t c,
                                                                __m256& a0, __m256& a1) {
  int64_t j = 0;
  for (; j + 2 <= n; j += 2) {
    a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(v + j * hd + c), a0);
    a1 = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 1]), _mm256_loadu_ps(v + (j + 1) * hd + c), a1);
  }
  if (j < n) a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(v + j * hd + c), a0);
}

// o[i] = scale (sum_{j < n1} p1[j] v1[j * hd + i] + sum_{j < n2} p2[j] v2[j * hd + i]), hd a
// multiple of 8: the weighted values of the cached block and of this block, eight dims a vector,
// two rows in flight; o in fp32, or rounded to bf16 (the bf16 linear's input)
template <typename Out>
__attribute__((target("avx2,fma"))) void weighted_rows(const float* p1, const float* v1, int64_t n1,
                                                       const float* p2, const float* v2, int64_t n2,
                                                       float scale, int64_t hd, Out* o) {
  for (int64_t c = 0; c < hd; c += 8) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    accumulate_rows(p1, v1, n1, hd, c, a0, a1);
    accumulate_rows(p2, v2, n2, hd, c, a0, a1);
    Lanes<Out>::store(o + c, _mm256_mul_ps(_mm256_add_ps(a0, a1), _mm256_set1_ps(scale)));
  }
}

// scratch of one thread's attention tasks
struct AttentionScratch {
  std::vector<float> q, scores, past_keys_t, keys_t, values;
};

// one (batch row, kv head) task of attend_kv_heads, out in fp32 or bf16
template <typename Out>
__attribute__((target("avx2,fma"))) void attend_kv_head(const AttentionKernelArgs& a, int64_t bg,
                                                        Out* out, AttentionScratch& w) {
  const int64_t T = a.T, P = a.P, S = P + T, hd = a.head_dim, half = hd / 2;
  const int64_t heads = a.n_head + 2 * a.n_kv_head, group = a.n_head / a.n_kv_head;
  const int64_t b = bg / a.n_kv_head, g = bg % a.n_kv_head;
  const int64_t P8 = round_up8(P), T8 = round_up8(T);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // rotate half: r[i] = x[i] cos[i] + (i < half ? -x[i + half] : x[i - half]) sin[i]
  auto rotate = [&](const float* x, int64_t t, float* r) {
    if (a.cos == nullptr) {
      std::copy(x, x + hd, r);
      return;
    }
    const float* c = a.cos + t * hd;
    const float* sn = a.sin + t * hd;
    for (int64_t i = 0; i < half; ++i) r[i] = x[i] * c[i] - x[i + half] * sn[i];
    for (int64_t i = half; i < hd; ++i) r[i] = x[i] * c[i] + x[i - half] * sn[i];
  };
  auto v_row = [&](int64_t t) {
    return a.qkv + ((b * T + t) * heads + a.n_head + a.n_kv_head + g) * hd;
  };
  // this block's keys, rotated once, (T, hd) for the cache and transposed (hd, T8) for the
  // scores; its values gathered (T, hd). the transposed keys and the values go straight into the
  // cache's k_t and v where the call keeps them, into scratch otherwise
  float* keys_t = a.k_t_new != nullptr ? a.k_t_new + bg * hd * T8 : nullptr;
  if (keys_t == nullptr) {
    w.keys_t.resize(hd * T8);
    keys_t = w.keys_t.data();
  }
  std::fill(keys_t, keys_t + hd * T8, 0.f);
  float* values = a.v_new != nullptr ? a.v_new + bg * T * hd : nullptr;
  if (values == nullptr) {
    w.values.resize(T * hd);
    values = w.values.data();
  }
  for (int64_t t = 0; t < T; ++t) {
    float* k = a.k_new + (bg * T + t) * hd;
    rotate(a.qkv + ((b * T + t) * heads + a.n_head + g) * hd, t, k);
    for (int64_t i = 0; i < hd; ++i) keys_t[i * T8 + t] = k[i];
    std::copy(v_row(t), v_row(t) + hd, values + t * hd);
  }
  // the cached keys transposed (hd, P8): kept so by the prefix pass, else gathered here. the
  // cached values are read where they are, (P, hd) rows
  const float* past_keys_t = a.past_k_t != nullptr ? a.past_k_t + bg * hd * P8 : nullptr;
  if (P > 0 && past_keys_t == nullptr) {
    w.past_keys_t.assign(hd * P8, 0.f);
    for (int64_t j = 0; j < P; ++j) {
      for (int64_t i = 0; i < hd; ++i) w.past_keys_t[i * P8 + j] = a.past_k[(bg * P + j) * hd + i];
    }
    past_keys_t = w.past_keys_t.data();
  }
  const float* past_values = P > 0 ? a.past_v + bg * P * hd : nullptr;
  // per query row: the scores of [cache | this block] with eight keys a vector (this block's
  // moved down next to the cache's), softmax, the weighted values
  w.q.resize(hd);
  w.scores.resize(P8 + T8);
  float* scores = w.scores.data();
  const float* row_bias = a.bias != nullptr ? a.bias + b * S : nullptr;
  for (int64_t h = g * group; h < (g + 1) * group; ++h) {
    for (int64_t t = 0; t < T; ++t) {
      rotate(a.qkv + ((b * T + t) * heads + h) * hd, t, w.q.data());
      if (P > 0) scores_row(w.q.data(), past_keys_t, hd, P8, scores);
      scores_row(w.q.data(), keys_t, hd, T8, scores + P8);
      if (P8 > P) std::copy(scores + P8, scores + P8 + T, scores + P);
      float max_score = -INFINITY;
      for (int64_t j = 0; j < S; ++j) {
        scores[j] = scores[j] * scale + (row_bias != nullptr ? row_bias[j] : 0.f);
        max_score = std::max(max_score, scores[j]);
      }
      const float total = exp_shifted_sum_f32(scores, max_score, S);
      weighted_rows(scores, past_values, P, scores + P, values, T, 1.0f / total, hd,
                    out + (b * T + t) * a.n_head * hd + h * hd);
    }
  }
}

// the tensor side of the fused op for no-grad fp32 inference on the cpu (avx2): it serves the
// prefix pass (no cache; kv_out receives this block's rotated keys and values), the vision layers
// (no rotary, no bias) and the cached action step, and replaces ~30 small LibTorch ops per layer.
// qkv: (B, T, H + 2 Hkv, hd) projection output; cos/sin: (T, hd) or undefined; past k/v:
// (B, Hkv, P, hd) or none; mask: a key bias attention_kernel_takes, or undefined -> (B, T, H * hd)
torch::Tensor attention_fused(const torch::Tensor& qkv, const RotaryTable& rope,
                              const LayerKv* past, const torch::Tensor& mask, int64_t n_head,
                              int64_t head_dim, LayerKv* kv_out) {
  AttentionCall call(qkv, rope, past, mask, n_head, head_dim, kv_out != nullptr);
  torch::Tensor out = torch::empty({qkv.size(0), qkv.size(1), n_head * head_dim}, qkv.options());
  call.args.out = out.data_ptr<float>();
  at::parallel_for(0, call.args.B * call.args.n_kv_head, 1,
                   [&](int64_t begin, int64_t end) { attend_kv_heads(call.args, begin, end); });
  if (kv_out != nullptr) *kv_out = call.kv();
  return out;
}

}  // namespace

bool attention_kernel_takes(int64_t B, int64_t T, int64_t head_dim, const LayerKv* past,
                            const torch::Tensor& mask) {
  const bool cached = past != nullptr && past->k.defined();
  if (cached && (past->k.scalar_type() != torch::kFloat32 || !past->k.is_cpu())) return false;
  const int64_t S = (cached ? past->k.size(2) : 0) + T;
  const bool key_bias =
      !mask.defined() ||
      (mask.dim() == 4 && (mask.size(0) == B || mask.size(0) == 1) && mask.size(1) == 1 &&
       mask.size(2) == 1 && mask.size(3) == S && mask.scalar_type() == torch::kFloat32);
  return key_bias && head_dim % 8 == 0;
}

AttentionCall::AttentionCall(const torch::Tensor& qkv_in, const RotaryTable& rope,
                             const LayerKv* past, const torch::Tensor& mask, int64_t n_head,
                             int64_t head_dim, bool keep_kv)
    : qkv(qkv_in.contiguous()) {
  const int64_t B = qkv.size(0), T = qkv.size(1);
  const int64_t n_kv_head = (qkv.size(2) - n_head) / 2;
  const bool cached = past != nullptr && past->k.defined();
  if (cached) {
    past_k = past->k.contiguous();
    past_v = past->v.contiguous();
    if (past->k_t.defined()) past_k_t = past->k_t.contiguous();
  }
  if (rope.cos.defined()) {
    cos = rope.cos.contiguous();
    sin = rope.sin.contiguous();
  }
  const int64_t P = cached ? past_k.size(2) : 0;
  if (mask.defined()) bias = mask.expand({B, 1, 1, P + T}).contiguous();
  k_new = torch::empty({B, n_kv_head, T, head_dim}, qkv.options());
  if (keep_kv) {
    v_new = torch::empty_like(k_new);
    k_t_new = torch::empty({B, n_kv_head, head_dim, round_up8(T)}, qkv.options());
  }
  args.qkv = qkv.data_ptr<float>();
  args.P = P;
  args.past_k = cached ? past_k.data_ptr<float>() : nullptr;
  args.past_v = cached ? past_v.data_ptr<float>() : nullptr;
  args.past_k_t = past_k_t.defined() ? past_k_t.data_ptr<float>() : nullptr;
  args.cos = cos.defined() ? cos.data_ptr<float>() : nullptr;
  args.sin = sin.defined() ? sin.data_ptr<float>() : nullptr;
  args.bias = bias.defined() ? bias.data_ptr<float>() : nullptr;
  args.k_new = k_new.data_ptr<float>();
  args.v_new = keep_kv ? v_new.data_ptr<float>() : nullptr;
  args.k_t_new = keep_kv ? k_t_new.data_ptr<float>() : nullptr;
  args.B = B;
  args.T = T;
  args.n_head = n_head;
  args.n_kv_head = n_kv_head;
  args.head_dim = head_dim;
}

LayerKv AttentionCall::kv() const {
  return {k_new, v_new, k_t_new};
}

void attend_kv_heads(const AttentionKernelArgs& a, int64_t begin, int64_t end) {
  AttentionScratch scratch;
  for (int64_t bg = begin; bg < end; ++bg) {
    if (a.out_bf16 != nullptr) {
      attend_kv_head(a, bg, a.out_bf16, scratch);
    } else {
      attend_kv_head(a, bg, a.out, scratch);
    }
  }
}

AttentionImpl::AttentionImpl(int64_t dim_, int64_t n_head_, int64_t n_kv_head_, bool qkv_bias)
    : dim(dim_), n_head(n_head_), n_kv_head(n_kv_head_), head_dim(dim_ / n_head_) {
  qkv_proj = register_module(
      "qkv_proj",
      torch::nn::Linear(
          torch::nn::LinearOptions(dim, (n_head + 2 * n_kv_head) * head_dim).bias(qkv_bias)));
  o_proj = register_module(
      "o_proj", torch::nn::Linear(torch::nn::LinearOptions(n_head * head_dim, dim).bias(false)));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const RotaryTable& rope,
                                     const LayerKv* past, const torch::Tensor& mask,
                                     LayerKv* kv_out) {
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t group = n_head / n_kv_head;

  // fused projection, split into heads: q (B, H, T, hd), k/v (B, Hkv, T, hd)
  torch::Tensor qkv = linear(x, qkv_proj).view({B, T, n_head + 2 * n_kv_head, head_dim});

  // no-grad fp32 inference on the cpu: one fused op for the prefix pass, the vision layers and
  // the cached action step (backend_test and the attention test hold it to the plain path)
  if (!torch::GradMode::is_enabled() && qkv.scalar_type() == torch::kFloat32 &&
      use_cpu_kernels(qkv) && attention_kernel_takes(B, T, head_dim, past, mask)) {
    return linear(attention_fused(qkv, rope, past, mask, n_head, head_dim, kv_out), o_proj);
  }
  // training (and the forwards above that the no-grad kernel does not take) on the cpu: the head
  // split with rotary, and the scaled, masked softmax, one pass each way (model/attention_train)
  const int64_t S = (past != nullptr && past->k.defined() ? past->k.size(2) : 0) + T;
  const bool train_kernels = attention_train_kernels_take(qkv, rope, mask, S);
  // q (B, H, T, hd), k and v (B, Hkv, T, hd)
  torch::Tensor q, k, v;
  if (train_kernels) {
    const std::vector<torch::Tensor> q_k_v = split_rotate_heads(qkv, rope, n_kv_head);
    q = q_k_v[0];
    k = q_k_v[1];
    v = q_k_v[2];
  } else {
    // q and k heads are adjacent: rotate them in one pass, (B, H + Hkv, T, hd).
    // split_with_sizes, not narrows: under autograd each narrow's backward zero-fills a gradient
    // of the whole input and autograd sums them; a split's backward is one cat
    const std::vector<torch::Tensor> qk_v =
        qkv.split_with_sizes({n_head + n_kv_head, n_kv_head}, 2);
    torch::Tensor qk = qk_v[0].transpose(1, 2);
    if (rope.cos.defined()) qk = apply_rotary(qk, rope);
    const std::vector<torch::Tensor> q_k = qk.split_with_sizes({n_head, n_kv_head}, 1);
    q = q_k[0];
    k = q_k[1];
    v = qk_v[1].transpose(1, 2);
  }
  if (kv_out != nullptr) *kv_out = {k, v, torch::Tensor()};

  // prepend the cached prefix keys/values: (B, Hkv, S, hd), S = P + T
  torch::Tensor keys = k, values = v;
  if (past != nullptr && past->k.defined()) {
    keys = torch::cat({past->k.to(k.scalar_type()), k}, 2);
    values = torch::cat({past->v.to(v.scalar_type()), v}, 2);
  }
  // grouped queries share their kv head without copying it: q as (B, Hkv, group*T, hd)
  torch::Tensor qg = q.reshape({B, n_kv_head, group * T, head_dim});
  torch::Tensor probs;
  if (train_kernels) {
    // (B, Hkv, g*T, S) seen as (B, Hkv*g, T, S) against the mask (B|1, 1, T|1, S)
    torch::Tensor scores = torch::matmul(qg, keys.transpose(2, 3)).view({B, n_head, T, S});
    probs = scaled_masked_softmax(scores, mask, 1.0 / std::sqrt(double(head_dim)));
  } else {
    torch::Tensor scores = torch::matmul(qg, keys.transpose(2, 3)) / std::sqrt(double(head_dim));
    scores = scores.view({B, n_kv_head, group, T, S});        // (B, Hkv, g, T, S)
    if (mask.defined()) scores = scores + mask.unsqueeze(1);  // mask (B, 1, T, S) -> (B,1,1,T,S)
    probs = torch::softmax(scores.to(torch::kFloat32), -1).to(values.scalar_type());
  }
  torch::Tensor out = torch::matmul(probs.view({B, n_kv_head, group * T, S}), values);
  // (B, Hkv, g*T, hd) -> (B, H, T, hd) -> (B, T, H*hd)
  out = out.view({B, n_head, T, head_dim}).transpose(1, 2).reshape({B, T, n_head * head_dim});
  return linear(out, o_proj);
}

}  // namespace avla
