#include "model/attention.h"

#include <cmath>

#include "model/linear.h"

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
