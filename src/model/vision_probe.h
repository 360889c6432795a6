// the heads of vision pretraining (asyncvla pretrain-vision): they read the vision encoder's
// merged tokens of both cameras and predict the scene's privileged labels, so that the encoder
// learns to put where every object is, the drawer and the gripper into its tokens. each token is
// projected to a few features and the features are read out together, so that where a token sits
// stays known. with model.probe_yaw they also predict each slot's yaw features. a policy loads the
// encoder, and the probe too when it has a scene token (model.scene_slots, model/vla.h).
#pragma once

#include <torch/torch.h>

#include "model/config.h"

namespace avla {

struct ProbeOutput {
  torch::Tensor presence_logit;  // (B, n_slot)
  torch::Tensor slot_pos;        // (B, n_slot, 3) in units of ProbeScale::position
  torch::Tensor drawer;          // (B) in units of ProbeScale::position
  torch::Tensor ee_pos;          // (B, 3) in units of ProbeScale::position
  torch::Tensor ee_rot6;         // (B, 6)
  torch::Tensor gripper;         // (B) in units of ProbeScale::finger
  torch::Tensor slot_yaw;        // (B, n_slot, 2) yaw features; undefined without model.probe_yaw
};

// targets are divided by these before the squared errors
struct ProbeScale {
  static constexpr double position = 0.1;  // m
  static constexpr double finger = 0.04;   // m (sim::finger_open)
};

struct VisionProbeImpl : torch::nn::Module {
  VisionProbeImpl(const ModelConfig& cfg, int n_slot);
  // tokens: (B, n_cam * tokens_per_cam, d_model) -> heads
  ProbeOutput forward(const torch::Tensor& tokens);
  // presence, positions, drawer, ee, gripper [, yaw]
  int64_t n_outputs() const { return n_slot * (yaw ? 6 : 4) + 11; }

  int n_slot;
  bool yaw;
  int n_tokens;
  torch::nn::Linear token_proj{nullptr};  // d_model -> kTokenFeatures
  torch::nn::Linear fc1{nullptr};         // n_tokens * kTokenFeatures -> kHidden
  torch::nn::Linear fc2{nullptr};         // kHidden -> n_outputs()
  static constexpr int64_t kTokenFeatures = 32;
  static constexpr int64_t kHidden = 512;
};
TORCH_MODULE(VisionProbe);

}  // namespace avla
