#include "model/vision_probe.h"

#include "util/error.h"

namespace avla {

VisionProbeImpl::VisionProbeImpl(const ModelConfig& cfg, int n_slot_)
    : n_slot(n_slot_), yaw(cfg.probe_yaw), n_tokens(cfg.n_cam * cfg.tokens_per_cam()) {
  AVLA_CHECK(n_slot > 0, "vision_probe", "n_slot must be > 0, found {}", n_slot);
  token_proj = register_module("token_proj", torch::nn::Linear(cfg.d_model, kTokenFeatures));
  fc1 = register_module("fc1", torch::nn::Linear(n_tokens * kTokenFeatures, kHidden));
  fc2 = register_module("fc2", torch::nn::Linear(kHidden, n_outputs()));
}

ProbeOutput VisionProbeImpl::forward(const torch::Tensor& tokens) {
  AVLA_CHECK(tokens.dim() == 3 && tokens.size(1) == n_tokens, "vision_probe",
             "tokens have shape {}, expected [B,{},d]", c10::str(tokens.sizes()), n_tokens);
  const int64_t B = tokens.size(0), k = n_slot;
  // (B, n_tok, d) -> (B, n_tok, F) -> (B, n_tok * F) -> (B, hidden) -> (B, 4k + 11 [+ 2k])
  torch::Tensor x = torch::gelu(token_proj(tokens)).reshape({B, -1});
  x = fc2(torch::gelu(fc1(x))).to(torch::kFloat32);
  ProbeOutput out;
  out.presence_logit = x.narrow(1, 0, k);
  out.slot_pos = x.narrow(1, k, 3 * k).reshape({B, k, 3});
  out.drawer = x.select(1, 4 * k);
  out.ee_pos = x.narrow(1, 4 * k + 1, 3);
  out.ee_rot6 = x.narrow(1, 4 * k + 4, 6);
  out.gripper = x.select(1, 4 * k + 10);
  if (yaw) out.slot_yaw = x.narrow(1, 4 * k + 11, 2 * k).reshape({B, k, 2});
  return out;
}

}  // namespace avla
