#include "model/rater.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/json_file.h"
#include "io/tensor_file.h"
#include "model/decoder_layer.h"
#include "util/error.h"

namespace avla {

void RaterConfig::validate() const {
  AVLA_CHECK(d_model > 0 && n_head > 0 && d_model % n_head == 0, "rater",
             "d_model {} must be a positive multiple of n_head {}", d_model, n_head);
  AVLA_CHECK((d_model / n_head) % 2 == 0, "rater", "head dim {} must be even (rotary)",
             d_model / n_head);
  AVLA_CHECK(n_layer >= 1, "rater", "n_layer is {}, expected >= 1", n_layer);
  AVLA_CHECK(d_ff > 0, "rater", "d_ff is {}, expected > 0", d_ff);
  AVLA_CHECK(alpha >= 0 && beta >= 0 && alpha + beta <= 1, "rater",
             "alpha {} and beta {} must be >= 0 with alpha + beta <= 1 (labels in [0, 1])", alpha,
             beta);
  AVLA_CHECK(eps > 0, "rater", "eps is {}, expected > 0", eps);
  check_label_space(label_space);
  AVLA_CHECK(window >= 0, "rater", "window is {}, expected >= 0 (0: the whole chunk)", window);
}

int64_t RaterConfig::window_tokens(int64_t chunk_len) const {
  AVLA_CHECK(window <= chunk_len, "rater", "window is {}, but the chunk has {} tokens", window,
             chunk_len);
  return window > 0 ? window : chunk_len;
}

torch::Tensor within_window(const torch::Tensor& mask, int64_t window) {
  AVLA_CHECK(mask.dim() == 2, "rater", "mask has shape {}, expected [B, L]",
             c10::str(mask.sizes()));
  const int64_t chunk_len = mask.size(1);
  AVLA_CHECK(window >= 1 && window <= chunk_len, "rater",
             "window of {} tokens outside [1, chunk_len {}]", window, chunk_len);
  return mask.logical_and(
      (torch::arange(chunk_len, mask.options().dtype(torch::kInt64)) < window).unsqueeze(0));
}

torch::Tensor low_confidence_mask(const torch::Tensor& confidence, double threshold,
                                  int64_t window) {
  return within_window(confidence < threshold, window);
}

void check_label_space(const std::string& label_space) {
  AVLA_CHECK(label_space == "normalized" || label_space == "action", "rater",
             "label_space is '{}', expected normalized or action", label_space);
}

namespace {

template <typename Struct, typename Fn>
void rater_fields(Struct& c, Fn&& f) {
  f("d_model", c.d_model);
  f("n_layer", c.n_layer);
  f("n_head", c.n_head);
  f("d_ff", c.d_ff);
  f("alpha", c.alpha);
  f("beta", c.beta);
  f("eps", c.eps);
  f("label_space", c.label_space);
  f("window", c.window);
}

}  // namespace

nlohmann::json to_json(const RaterConfig& c) {
  return struct_to_json(c, [](auto& s, auto&& f) { rater_fields(s, f); });
}

RaterConfig rater_config_from_json(const nlohmann::json& j, const std::string& source) {
  RaterConfig c = struct_from_json<RaterConfig>(j, source, "rater", "rater",
                                                [](auto& s, auto&& f) { rater_fields(s, f); });
  c.validate();
  return c;
}

ConfidenceRaterImpl::ConfidenceRaterImpl(const RaterConfig& cfg_, const ModelConfig& model_cfg_)
    : cfg(cfg_), model_cfg(model_cfg_) {
  cfg.validate();
  cfg.window_tokens(model_cfg.chunk_len);  // a window longer than the chunk is an error here
  rope = RotaryTable::make(model_cfg.prefix_len() + model_cfg.chunk_len, cfg.d_model / cfg.n_head,
                           model_cfg.rope_theta);
  prefix_proj = register_module("prefix_proj", torch::nn::Linear(model_cfg.d_model, cfg.d_model));
  action_proj =
      register_module("action_proj", torch::nn::Linear(model_cfg.action_dim, cfg.d_model));
  action_pos =
      register_parameter("action_pos", torch::randn({model_cfg.chunk_len, cfg.d_model}) * 0.02);
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < cfg.n_layer; ++i) {
    layers->push_back(DecoderLayer(cfg.d_model, cfg.n_head, cfg.n_head, cfg.d_ff,
                                   /*qkv_bias=*/true, model_cfg.rms_eps));
  }
  norm = register_module("norm", RMSNorm(cfg.d_model, model_cfg.rms_eps));
  rate_head = register_module("rate_head", torch::nn::Linear(cfg.d_model, 1));
  {
    // start near p = 0.9: most first-round actions are good
    torch::NoGradGuard no_grad;
    rate_head->weight.mul_(0.1);
    rate_head->bias.fill_(2.0);
  }
}

torch::Tensor ConfidenceRaterImpl::forward(const torch::Tensor& prefix_hidden,
                                           const torch::Tensor& key_bias,
                                           const torch::Tensor& actions) {
  const int64_t B = actions.size(0), L = actions.size(1), P = prefix_hidden.size(1);
  AVLA_CHECK(prefix_hidden.dim() == 3 && prefix_hidden.size(2) == model_cfg.d_model &&
                 prefix_hidden.size(0) == B,
             "rater", "prefix_hidden has shape {}, expected [{}, P, {}]",
             c10::str(prefix_hidden.sizes()), B, model_cfg.d_model);
  AVLA_CHECK(
      actions.dim() == 3 && L == model_cfg.chunk_len && actions.size(2) == model_cfg.action_dim,
      "rater", "actions have shape {}, expected [B, {}, {}]", c10::str(actions.sizes()),
      model_cfg.chunk_len, model_cfg.action_dim);
  // [prefix | actions] tokens: (B, P + L, d_r)
  torch::Tensor x = torch::cat({prefix_proj(prefix_hidden), action_proj(actions) + action_pos}, 1);
  // full attention; padded prefix keys stay masked: (B, 1, 1, P + L)
  torch::Tensor bias = torch::cat({key_bias, torch::zeros({B, 1, 1, L}, key_bias.options())}, 3);
  rope.place_on(x.device());
  RotaryTable pos = rope.slice(0, P + L);
  for (const auto& layer : *layers) {
    x = layer->as<DecoderLayerImpl>()->forward(x, pos, nullptr, bias);
  }
  // rate head on the action positions: (B, L)
  return torch::sigmoid(rate_head(norm(x.narrow(1, P, L))).squeeze(-1));
}

std::string rater_weights_path(const std::string& dir) {
  return (std::filesystem::path(dir) / "rater.safetensors").string();
}
std::string rater_config_path(const std::string& dir) {
  return (std::filesystem::path(dir) / "rater.json").string();
}
bool has_rater(const std::string& dir) {
  return std::filesystem::exists(rater_weights_path(dir));
}

ConfidenceRater load_rater(const std::string& dir, const ModelConfig& model_cfg) {
  AVLA_CHECK(has_rater(dir), "rater",
             "checkpoint '{}' has no rater (rater.safetensors); train one with "
             "`asyncvla train-rater --ckpt {}`",
             dir, dir);
  const RaterConfig cfg = rater_config_from_json(read_json_file(rater_config_path(dir), "rater"),
                                                 rater_config_path(dir));
  ConfidenceRater rater(cfg, model_cfg);
  load_module_strict(*rater, rater_weights_path(dir));
  rater->eval();
  return rater;
}

void save_rater(const std::string& dir, const RaterConfig& cfg, ConfidenceRaterImpl& rater) {
  write_file_atomic(rater_config_path(dir), to_json(cfg).dump(2) + "\n");
  save_tensor_map(rater_weights_path(dir), module_state(rater));
}

}  // namespace avla
