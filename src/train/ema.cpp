#include "train/ema.h"

#include <algorithm>

#include "util/error.h"

namespace avla {

WeightEma::WeightEma(torch::nn::Module& model, torch::nn::Module& average, double decay)
    : decay_(decay) {
  auto a = average.named_parameters(true);
  for (const auto& p : model.named_parameters(true)) {
    const torch::Tensor* q = a.find(p.key());
    AVLA_CHECK(q != nullptr && q->sizes() == p.value().sizes(), "ema",
               "average model has no parameter '{}' of shape {}", p.key(),
               c10::str(p.value().sizes()));
    model_params_.push_back(p.value());
    average_params_.push_back(*q);
  }
  AVLA_CHECK(a.size() == model_params_.size(), "ema", "average model has {} parameters, model {}",
             a.size(), model_params_.size());
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < model_params_.size(); ++i) average_params_[i].copy_(model_params_[i]);
}

double WeightEma::decay_at(int64_t step) const {
  return std::min(decay_, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
}

void WeightEma::update(int64_t step) {
  const double d = decay_at(step);
  torch::NoGradGuard no_grad;
  // two multi-tensor ops over every parameter (the same arithmetic as one tensor at a time)
  at::_foreach_mul_(average_params_, d);
  at::_foreach_add_(average_params_, model_params_, 1.0 - d);
}

}  // namespace avla
