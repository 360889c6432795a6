// adamw with parameter groups (a learning-rate scale per group), decoupled weight decay on
// matrices only, and a state that saves to / loads from named tensors for exact resume. the
// clipping norm runs as one multi-tensor (_foreach_) op and its scale is applied by the update;
// the update, on the cpu, as one pass over each fp32 parameter (p, g scaled, m, v read once),
// elsewhere as multi-tensor ops: a handful of ops per step instead of ~10 per parameter, one
// kernel each on cuda.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "io/tensor_file.h"
#include "model/config.h"

namespace avla {

struct ParamGroup {
  std::string name;
  std::vector<std::pair<std::string, torch::Tensor>> params;  // (state name, parameter)
  double lr_scale = 1.0;
};

class AdamW {
 public:
  AdamW(std::vector<ParamGroup> groups, const TrainConfig& cfg);
  // one update at base learning rate lr (each group uses lr * lr_scale), from the gradients
  // scaled as the last clip_grad_norm asked
  void step(double lr);
  void zero_grad();
  // global l2 norm of all gradients; returns it and has the next step() scale them to a norm of
  // at most max_norm (the gradients themselves are left as they are: the scale is applied inside
  // the update's pass over them, which saves a pass over every gradient)
  double clip_grad_norm(double max_norm);

  TensorMap state() const;  // "adamw.m.<name>", "adamw.v.<name>", "adamw.step"
  void load_state(const TensorMap& state, const std::string& source);
  int64_t step_count() const { return step_; }

 private:
  std::vector<torch::Tensor> grads() const;  // every defined gradient, in group order

  std::vector<ParamGroup> groups_;
  std::vector<torch::Tensor> m_, v_;  // flat over groups
  TrainConfig cfg_;
  int64_t step_ = 0;
  double grad_scale_ = 1.0;  // from clip_grad_norm, applied and reset by step()
};

// linear warm-up to lr over warmup_steps, then cosine decay to lr * min_lr_ratio. the decay's
// progress is the larger of the step fraction and time_progress (elapsed / time limit), so a run
// bounded by time reaches the floor when its time is up, not at a step it will never reach.
double learning_rate_at(int64_t step, const TrainConfig& cfg, double time_progress = 0.0);

}  // namespace avla
