#include "train/optimizer.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "model/backend.h"
#include "model/simd.h"
#include "util/error.h"

namespace avla {

namespace {

// the scalars of one group's update
struct AdamWScalars {
  float decay_mul;  // 1 - lr wd, or 1 without decay
  float beta1, beta2;
  float bias2;  // 1 - beta2^t
  float eps;
  float step_size;   // -lr / (1 - beta1^t)
  float grad_scale;  // the clipping factor, 1 when the norm is within bounds
};

// one fp32 parameter's whole update in one pass over p, g, m, v, in the order of the multi-tensor
// ops: g *= grad_scale; p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g;
// p += step_size m / (sqrt(v / bias2) + eps). eight values a vector, then the tail
__attribute__((target("avx2,fma"))) void adamw_update(float* p, const float* g, float* m, float* v,
                                                      int64_t begin, int64_t end,
                                                      const AdamWScalars& k) {
  const __m256 decay = _mm256_set1_ps(k.decay_mul), b1 = _mm256_set1_ps(k.beta1),
               b2 = _mm256_set1_ps(k.beta2), one_b1 = _mm256_set1_ps(1.0f - k.beta1),
               one_b2 = _mm256_set1_ps(1.0f - k.beta2), bias2 = _mm256_set1_ps(k.bias2),
               eps = _mm256_set1_ps(k.eps), step = _mm256_set1_ps(k.step_size),
               scale = _mm256_set1_ps(k.grad_scale);
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), scale);
    const __m256 mi =
        _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m + i), b1), _mm256_mul_ps(one_b1, gi));
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), b2),
                                    _mm256_mul_ps(_mm256_mul_ps(one_b2, gi), gi));
    const __m256 denom = _mm256_add_ps(_mm256_sqrt_ps(_mm256_div_ps(vi, bias2)), eps);
    const __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), decay);
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    _mm256_storeu_ps(p + i, _mm256_add_ps(pi, _mm256_mul_ps(step, _mm256_div_ps(mi, denom))));
  }
  for (; i < end; ++i) {
    const float gi = g[i] * k.grad_scale;
    m[i] = m[i] * k.beta1 + (1.0f - k.beta1) * gi;
    v[i] = v[i] * k.beta2 + (1.0f - k.beta2) * gi * gi;
    const float denom = std::sqrt(v[i] / k.bias2) + k.eps;
    p[i] = p[i] * k.decay_mul + k.step_size * (m[i] / denom);
  }
}

// whether the one-pass update takes these tensors: fp32, contiguous, on the cpu, kernels on
bool fused_update_takes(const std::vector<torch::Tensor>& ts) {
  for (const torch::Tensor& t : ts) {
    if (t.scalar_type() != torch::kFloat32 || !t.is_contiguous() || !use_cpu_kernels(t)) {
      return false;
    }
  }
  return true;
}

}  // namespace

AdamW::AdamW(std::vector<ParamGroup> groups, const TrainConfig& cfg)
    : groups_(std::move(groups)), cfg_(cfg) {
  for (const auto& g : groups_) {
    for (const auto& [name, p] : g.params) {
      m_.push_back(torch::zeros_like(p));
      v_.push_back(torch::zeros_like(p));
    }
  }
}

void AdamW::zero_grad() {
  for (auto& g : groups_) {
    for (auto& [name, p] : g.params) {
      // dropped, not zeroed: the next backward then hands each parameter its gradient as made
      // instead of filling a zero tensor and adding to it (two passes over every gradient)
      p.mutable_grad().reset();
    }
  }
  grad_scale_ = 1.0;
}

std::vector<torch::Tensor> AdamW::grads() const {
  std::vector<torch::Tensor> out;
  for (const auto& g : groups_) {
    for (const auto& [name, p] : g.params) {
      if (p.grad().defined()) out.push_back(p.grad());
    }
  }
  return out;
}

double AdamW::clip_grad_norm(double max_norm) {
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> all = grads();
  if (all.empty()) return 0.0;
  // one multi-tensor op per pass instead of one op per parameter (on cuda, one kernel)
  const std::vector<torch::Tensor> norms = at::_foreach_norm(all, 2);
  double total = torch::stack(norms).to(torch::kFloat64).norm(2).item<double>();
  // the scale waits for step(), which applies it in its own pass over the gradients
  grad_scale_ = max_norm > 0 && total > max_norm ? max_norm / (total + 1e-6) : 1.0;
  return total;
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  const double bias1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(step_));
  const double bias2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(step_));
  size_t i = 0;
  for (auto& g : groups_) {
    const double group_lr = lr * g.lr_scale;
    // the group's parameters that have a gradient, split by decay: decoupled weight decay on
    // matrices only (not norms, biases, 1-d tables)
    std::vector<torch::Tensor> params[2], grads[2], ms[2], vs[2];
    for (auto& [name, p] : g.params) {
      const size_t k = i++;
      if (!p.grad().defined()) continue;
      const int decay = p.dim() >= 2 && cfg_.weight_decay > 0 ? 1 : 0;
      params[decay].push_back(p);
      grads[decay].push_back(p.grad());
      ms[decay].push_back(m_[k]);
      vs[decay].push_back(v_[k]);
    }
    for (int decay = 0; decay < 2; ++decay) {
      if (params[decay].empty()) continue;
      // on the cpu: one pass over each parameter's p, g, m and v instead of nine
      if (fused_update_takes(params[decay]) && fused_update_takes(grads[decay]) &&
          fused_update_takes(ms[decay]) && fused_update_takes(vs[decay])) {
        const AdamWScalars k{
            decay == 1 ? static_cast<float>(1.0 - group_lr * cfg_.weight_decay) : 1.0f,
            static_cast<float>(cfg_.beta1),
            static_cast<float>(cfg_.beta2),
            static_cast<float>(bias2),
            static_cast<float>(cfg_.adam_eps),
            static_cast<float>(-group_lr / bias1),
            static_cast<float>(grad_scale_)};
        for (size_t j = 0; j < params[decay].size(); ++j) {
          float* p = params[decay][j].data_ptr<float>();
          const float* g = grads[decay][j].data_ptr<float>();
          float* m = ms[decay][j].data_ptr<float>();
          float* v = vs[decay][j].data_ptr<float>();
          at::parallel_for(0, params[decay][j].numel(), 1 << 15, [&](int64_t begin, int64_t end) {
            adamw_update(p, g, m, v, begin, end, k);
          });
        }
        continue;
      }
      // elsewhere (cuda, other dtypes) the update as multi-tensor ops, each the per-tensor op over
      // the whole list (the same arithmetic in the same order as one tensor at a time; on cuda,
      // one kernel per op)
      if (grad_scale_ != 1.0) at::_foreach_mul_(grads[decay], grad_scale_);
      if (decay == 1) at::_foreach_mul_(params[decay], 1.0 - group_lr * cfg_.weight_decay);
      at::_foreach_mul_(ms[decay], cfg_.beta1);
      at::_foreach_add_(ms[decay], grads[decay], 1.0 - cfg_.beta1);
      at::_foreach_mul_(vs[decay], cfg_.beta2);
      at::_foreach_addcmul_(vs[decay], grads[decay], grads[decay], 1.0 - cfg_.beta2);
      std::vector<torch::Tensor> denom = at::_foreach_div(vs[decay], bias2);
      at::_foreach_sqrt_(denom);
      at::_foreach_add_(denom, cfg_.adam_eps);
      at::_foreach_addcdiv_(params[decay], ms[decay], denom, -group_lr / bias1);
    }
  }
  grad_scale_ = 1.0;
}

TensorMap AdamW::state() const {
  TensorMap out;
  size_t i = 0;
  for (const auto& g : groups_) {
    for (const auto& [name, p] : g.params) {
      out["adamw.m." + name] = m_[i];
      out["adamw.v." + name] = v_[i];
      ++i;
    }
  }
  out["adamw.step"] = torch::tensor({step_}, torch::kInt64);
  return out;
}

void AdamW::load_state(const TensorMap& state, const std::string& source) {
  auto get = [&](const std::string& key, const torch::Tensor& like) {
    auto it = state.find(key);
    AVLA_CHECK(it != state.end(), "optimizer", "{}: missing tensor '{}'", source, key);
    AVLA_CHECK(it->second.sizes() == like.sizes(), "optimizer",
               "{}: tensor '{}' has shape {}, expected {}", source, key,
               c10::str(it->second.sizes()), c10::str(like.sizes()));
    return it->second.to(like.scalar_type());
  };
  size_t i = 0;
  for (const auto& g : groups_) {
    for (const auto& [name, p] : g.params) {
      m_[i].copy_(get("adamw.m." + name, m_[i]));
      v_[i].copy_(get("adamw.v." + name, v_[i]));
      ++i;
    }
  }
  step_ = get("adamw.step", torch::zeros({1}, torch::kInt64)).item<int64_t>();
}

double learning_rate_at(int64_t step, const TrainConfig& cfg, double time_progress) {
  // step is 0-based: the update about to be made
  if (cfg.warmup_steps > 0 && step < cfg.warmup_steps) {
    return cfg.lr * static_cast<double>(step + 1) / cfg.warmup_steps;
  }
  const double span = std::max<int64_t>(1, cfg.steps - cfg.warmup_steps);
  const double step_progress = static_cast<double>(step - cfg.warmup_steps) / span;
  const double progress = std::clamp(std::max(step_progress, time_progress), 0.0, 1.0);
  const double floor = cfg.lr * cfg.min_lr_ratio;
  return floor + (cfg.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace avla
