#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace avla {

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
  if (max_norm > 0 && total > max_norm) at::_foreach_mul_(all, max_norm / (total + 1e-6));
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
    // the update as multi-tensor ops, each the per-tensor op over the whole list (the same
    // arithmetic in the same order as one tensor at a time; on cuda, one kernel per op)
    for (int decay = 0; decay < 2; ++decay) {
      if (params[decay].empty()) continue;
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
