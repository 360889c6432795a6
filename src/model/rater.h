// the confidence rater (paper §3.2, DESIGN §4): its own weights, a few full-attention transformer
// layers over [projected backbone prefix hidden states | projected SFM actions + positions], and a
// linear rate head with a sigmoid per action token: p_l in (0, 1), high = trusted.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "model/attention.h"
#include "model/config.h"
#include "model/rms_norm.h"

namespace avla {

struct RaterConfig {
  int d_model = 128;
  int n_layer = 2;
  int n_head = 4;
  int d_ff = 384;
  // eq. 6 labels, saved with the rater for the record
  double alpha = 0.01;
  double beta = 0.98;
  double eps = 1e-6;
  // where e_l is measured: "normalized" (the model's quantile-normalized action space) or
  // "action" (the env's action units, where a dimension the expert barely moves stays small)
  std::string label_space = "normalized";
  // the tokens the rater rates: the chunk's first `window` (those the controller executes before
  // it replans; 0: the whole chunk, the paper's setting). eq. 6 labels are normalized over the
  // window, the loss covers it, and eq. 3 never masks a token past it
  int window = 0;

  void validate() const;  // throws avla::Error("rater", ...) naming the field
  // the window in tokens for a chunk of chunk_len: 1 .. chunk_len; throws if it does not fit
  int64_t window_tokens(int64_t chunk_len) const;
};

// mask (B, L) bool -> (B, L) bool: mask where l < window, false past it (window in 1 .. L)
torch::Tensor within_window(const torch::Tensor& mask, int64_t window);

// eq. 3 within the window: m_l = 1{p_l < threshold} for l < window, else 0. confidence (B, L)
torch::Tensor low_confidence_mask(const torch::Tensor& confidence, double threshold,
                                  int64_t window);

// throws avla::Error("rater", ...) unless label_space is "normalized" or "action"
void check_label_space(const std::string& label_space);

nlohmann::json to_json(const RaterConfig& c);
RaterConfig rater_config_from_json(const nlohmann::json& j, const std::string& source);

struct ConfidenceRaterImpl : torch::nn::Module {
  ConfidenceRaterImpl(const RaterConfig& cfg, const ModelConfig& model_cfg);
  // prefix_hidden: (B, P, d) backbone last-layer prefix states (after the final norm)
  // key_bias: (B, 1, 1, P) additive padding bias of the prefix keys (KvCache::key_bias)
  // actions: (B, L, A) normalized SFM chunk
  // -> confidence (B, L) in (0, 1)
  torch::Tensor forward(const torch::Tensor& prefix_hidden, const torch::Tensor& key_bias,
                        const torch::Tensor& actions);

  RaterConfig cfg;
  ModelConfig model_cfg;
  RotaryTable rope;
  torch::nn::Linear prefix_proj{nullptr};  // d -> d_r
  torch::nn::Linear action_proj{nullptr};  // A -> d_r
  torch::Tensor action_pos;                // (L, d_r) learned positions of the action tokens
  torch::nn::ModuleList layers{nullptr};   // DecoderLayer, full attention
  RMSNorm norm{nullptr};
  torch::nn::Linear rate_head{nullptr};  // d_r -> 1
};
TORCH_MODULE(ConfidenceRater);

// rater files inside a checkpoint directory
std::string rater_weights_path(const std::string& ckpt_dir);  // rater.safetensors
std::string rater_config_path(const std::string& ckpt_dir);   // rater.json
bool has_rater(const std::string& ckpt_dir);
// strict load of both files; errors name the file
ConfidenceRater load_rater(const std::string& ckpt_dir, const ModelConfig& model_cfg);
// writes rater.json then rater.safetensors, each atomically
void save_rater(const std::string& ckpt_dir, const RaterConfig& cfg, ConfidenceRaterImpl& rater);

}  // namespace avla
