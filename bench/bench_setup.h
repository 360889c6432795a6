// the benchmarks' model: the small preset with random weights (seed 0), one batch-1 observation
// and its noise, a batch of 32 for training, and a rater with random weights (seed 1) with the
// second round's noise for alg. 1. it writes the weights and the batch-1 inputs to dir
// (config.json, model.safetensors, inputs.safetensors, rater.json, rater.safetensors) so that
// bench/reference_bench.py times PyTorch eager on the same model. shared by bench_model (cpu) and
// bench_device (any device).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "flow/sampler.h"
#include "flow/unified_loss.h"
#include "io/atomic_file.h"
#include "io/tensor_file.h"
#include "model/rater.h"
#include "model/vla.h"
#include "train/optimizer.h"

namespace avla {

struct BenchSetup {
  Config cfg;
  VLA model{nullptr};
  ObservationBatch obs1, obs32;
  torch::Tensor noise1, actions32;
  ConfidenceRater rater{nullptr};
  torch::Tensor afm_noise1;  // (1, L, A) alg. 1's second-round noise
  // eq. 3's threshold: just above the median confidence of the batch-1 sfm chunk, so that alg. 1
  // regenerates about half of the tokens (a random rater's confidences sit in a narrow band)
  double threshold = 0.5;

  // random images, state and an 8-word instruction for B observations
  static ObservationBatch observation(const ModelConfig& mc, int64_t B) {
    ObservationBatch o;
    o.images =
        torch::randint(0, 256, {B, mc.n_cam, 3, mc.image_size, mc.image_size}).to(torch::kUInt8);
    o.state = torch::randn({B, mc.state_dim});
    o.tokens = torch::randint(2, mc.vocab_size, {B, mc.max_text_len});
    o.token_mask = torch::ones({B, mc.max_text_len}, torch::kBool);
    o.token_mask.narrow(1, 8, mc.max_text_len - 8).fill_(false);
    return o;
  }

  explicit BenchSetup(const std::string& dir) {
    torch::manual_seed(0);
    cfg.model.vocab_size = 32;  // defaults are the small preset
    model = VLA(cfg.model);
    model->eval();
    obs1 = observation(cfg.model, 1);
    obs32 = observation(cfg.model, 32);
    noise1 = torch::randn({1, cfg.model.chunk_len, cfg.model.action_dim});
    actions32 = torch::randn({32, cfg.model.chunk_len, cfg.model.action_dim});
    torch::manual_seed(1);
    rater = ConfidenceRater(RaterConfig{}, cfg.model);
    rater->eval();
    afm_noise1 = torch::randn_like(noise1);
    {
      c10::InferenceMode inference;
      const KvCache cache = model->encode_prefix(obs1);
      const torch::Tensor sfm = sample_sfm(*model, cache, noise1, cfg.model.n_flow_steps);
      const torch::Tensor confidence = rater->forward(cache.prefix_hidden, cache.key_bias, sfm);
      threshold = confidence.median().item<double>() + 1e-6;
    }
    std::filesystem::create_directories(dir);
    save_rater(dir, rater->cfg, *rater);
    write_file_atomic(dir + "/config.json", to_json(cfg).dump(2));
    save_tensor_map(dir + "/model.safetensors", module_state(*model));
    save_tensor_map(dir + "/inputs.safetensors", {{"images", obs1.images},
                                                  {"state", obs1.state},
                                                  {"tokens", obs1.tokens},
                                                  {"token_mask", obs1.token_mask.to(torch::kUInt8)},
                                                  {"noise", noise1},
                                                  {"noise2", afm_noise1},
                                                  {"threshold", torch::tensor({threshold})}});
  }
};

// AdamW over every parameter of model, one group
inline AdamW bench_optimizer(VLAImpl& model, const TrainConfig& tc) {
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : model.named_parameters()) params.emplace_back(p.key(), p.value());
  return AdamW({{"all", params, 1.0}}, tc);
}

// one benchmarked training step: the unified loss (alg. 2 draws from gen, made on the cpu and
// used where the batch is), backward, clipping to 1, AdamW
inline void bench_train_step(VLAImpl& model, AdamW& opt, const TrainBatch& batch,
                             const TrainConfig& tc, at::Generator& gen) {
  const TrainLossTerms terms = unified_flow_loss(model, batch, tc, gen);
  torch::Tensor loss = terms.flow.sum / terms.flow.count.clamp_min(1.0);
  opt.zero_grad();
  loss.backward();
  opt.clip_grad_norm(1.0);
  opt.step(1e-5);
}

}  // namespace avla
