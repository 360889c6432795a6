// exponential moving average of a model's parameters, the weights a policy is evaluated with.
// after update k the average is ema = d ema + (1 - d) w with d = min(decay, (1 + k) / (10 + k)),
// so early averages are not dominated by the random initial weights.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace avla {

class WeightEma {
 public:
  // average: a module of the same architecture; it is set to model's weights now
  WeightEma(torch::nn::Module& model, torch::nn::Module& average, double decay);
  void update(int64_t step);  // step: 1-based count of optimizer updates so far
  double decay_at(int64_t step) const;

 private:
  std::vector<torch::Tensor> model_params_, average_params_;
  double decay_;
};

}  // namespace avla
