#include "model/attention.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "model/backend.h"
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
  // rotate half: [x1, x2] -> [-x2, x1]
  int64_t half = x.size(-1) / 2;
  torch::Tensor x1 = x.narrow(-1, 0, half);
  torch::Tensor x2 = x.narrow(-1, half, half);
  torch::Tensor rotated = torch::cat({-x2, x1}, -1);
  torch::Tensor cos = rope.cos.to(x.scalar_type());
  torch::Tensor sin = rope.sin.to(x.scalar_type());
  return x * cos + rotated * sin;
}

namespace {

// one fused op for the cached action step of inference (no autograd, fp32, avx2): rotary on the
// projected q/k, scores against [cached prefix keys | new keys] with the additive bias, softmax,
// weighted values. replaces ~30 small LibTorch ops per layer.
// qkv: (B, T, H + 2 Hkv, hd) projection output; cos/sin: (T, hd); past k/v: (B, Hkv, P, hd);
// bias: (B, 1, 1, P + T) -> (B, T, H * hd)
__attribute__((target("avx2,fma"))) torch::Tensor cached_attention_fused(
    const torch::Tensor& qkv_in, const RotaryTable& rope, const LayerKv& past,
    const torch::Tensor& bias_in, int64_t n_head, int64_t n_kv_head, int64_t head_dim) {
  const torch::Tensor qkv = qkv_in.contiguous();
  const torch::Tensor pk = past.k.contiguous(), pv = past.v.contiguous();
  const torch::Tensor cos = rope.cos.contiguous(), sin = rope.sin.contiguous();
  const torch::Tensor bias = bias_in.contiguous();
  const int64_t B = qkv.size(0), T = qkv.size(1), P = pk.size(2), S = P + T, hd = head_dim;
  const int64_t heads = n_head + 2 * n_kv_head, half = hd / 2, group = n_head / n_kv_head;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float* qkv_p = qkv.data_ptr<float>();
  const float* pk_p = pk.data_ptr<float>();
  const float* pv_p = pv.data_ptr<float>();
  const float* cos_p = cos.data_ptr<float>();
  const float* sin_p = sin.data_ptr<float>();
  const float* bias_p = bias.data_ptr<float>();

  // rotate half: r[i] = x[i] cos[i] + (i < half ? -x[i + half] : x[i - half]) sin[i]
  auto rotate = [&](const float* x, int64_t t, float* r) {
    const float* c = cos_p + t * hd;
    const float* sn = sin_p + t * hd;
    for (int64_t i = 0; i < half; ++i) r[i] = x[i] * c[i] - x[i + half] * sn[i];
    for (int64_t i = half; i < hd; ++i) r[i] = x[i] * c[i] + x[i - half] * sn[i];
  };
  // the new keys, rotated once: (B, Hkv, T, hd)
  std::vector<float> k_new(B * n_kv_head * T * hd);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t g = 0; g < n_kv_head; ++g) {
        rotate(qkv_p + ((b * T + t) * heads + n_head + g) * hd, t,
               k_new.data() + ((b * n_kv_head + g) * T + t) * hd);
      }

  torch::Tensor out = torch::zeros({B, T, n_head * hd}, qkv.options());
  float* out_p = out.data_ptr<float>();
  at::parallel_for(0, B * n_head, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> q(hd), scores(S);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / n_head, h = bh % n_head, g = h / group;
      const float* keys_old = pk_p + (b * n_kv_head + g) * P * hd;
      const float* vals_old = pv_p + (b * n_kv_head + g) * P * hd;
      const float* keys_new = k_new.data() + (b * n_kv_head + g) * T * hd;
      const float* row_bias = bias_p + b * S;
      for (int64_t t = 0; t < T; ++t) {
        rotate(qkv_p + ((b * T + t) * heads + h) * hd, t, q.data());
        float max_score = -INFINITY;
        for (int64_t j = 0; j < S; ++j) {
          const float* kj = j < P ? keys_old + j * hd : keys_new + (j - P) * hd;
          scores[j] = dot_f32(q.data(), kj, hd) * scale + row_bias[j];
          max_score = std::max(max_score, scores[j]);
        }
        float total = 0.f;
        for (int64_t j = 0; j < S; ++j) {
          scores[j] = std::exp(scores[j] - max_score);
          total += scores[j];
        }
        float* o = out_p + (b * T + t) * n_head * hd + h * hd;
        for (int64_t j = 0; j < S; ++j) {
          const float* vj = j < P
                                ? vals_old + j * hd
                                : qkv_p + ((b * T + (j - P)) * heads + n_head + n_kv_head + g) * hd;
          axpy_f32(scores[j] / total, vj, o, hd);
        }
      }
    }
  });
  return out;
}

}  // namespace

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

  // inference on the kv-cache: one fused op (the cache test checks it against the plain path)
  if (past != nullptr && past->k.defined() && kv_out == nullptr && rope.cos.defined() &&
      !torch::GradMode::is_enabled() && qkv.scalar_type() == torch::kFloat32 &&
      past->k.scalar_type() == torch::kFloat32 && mask.defined() && mask.size(2) == 1 &&
      use_cpu_kernels(qkv)) {
    torch::Tensor bias = mask.expand({B, 1, 1, past->k.size(2) + T});
    return linear(cached_attention_fused(qkv, rope, *past, bias, n_head, n_kv_head, head_dim),
                  o_proj);
  }
  // q and k heads are adjacent: rotate them in one pass, (B, H + Hkv, T, hd)
  torch::Tensor qk = qkv.narrow(2, 0, n_head + n_kv_head).transpose(1, 2);
  if (rope.cos.defined()) qk = apply_rotary(qk, rope);
  torch::Tensor q = qk.narrow(1, 0, n_head);
  torch::Tensor k = qk.narrow(1, n_head, n_kv_head);
  torch::Tensor v = qkv.narrow(2, n_head + n_kv_head, n_kv_head).transpose(1, 2);
  if (kv_out != nullptr) *kv_out = {k, v};

  // prepend the cached prefix keys/values: (B, Hkv, S, hd), S = P + T
  torch::Tensor keys = k, values = v;
  if (past != nullptr && past->k.defined()) {
    keys = torch::cat({past->k.to(k.scalar_type()), k}, 2);
    values = torch::cat({past->v.to(v.scalar_type()), v}, 2);
  }
  const int64_t S = keys.size(2);

  // grouped queries share their kv head without copying it: q as (B, Hkv, group*T, hd)
  torch::Tensor qg = q.reshape({B, n_kv_head, group * T, head_dim});
  torch::Tensor scores = torch::matmul(qg, keys.transpose(2, 3)) / std::sqrt(double(head_dim));
  scores = scores.view({B, n_kv_head, group, T, S});        // (B, Hkv, g, T, S)
  if (mask.defined()) scores = scores + mask.unsqueeze(1);  // mask (B, 1, T, S) -> (B,1,1,T,S)
  torch::Tensor probs = torch::softmax(scores.to(torch::kFloat32), -1).to(values.scalar_type());
  torch::Tensor out = torch::matmul(probs.view({B, n_kv_head, group * T, S}), values);
  // (B, Hkv, g*T, hd) -> (B, H, T, hd) -> (B, T, H*hd)
  out = out.view({B, n_head, T, head_dim}).transpose(1, 2).reshape({B, T, n_head * head_dim});
  return linear(out, o_proj);
}

}  // namespace avla
