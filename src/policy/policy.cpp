#include "policy/policy.h"

#include "data/chunk_sampler.h"
#include "data/dataset.h"
#include "data/libero_file.h"
#include "flow/sampler.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

ActMode parse_act_mode(const std::string& s) {
  if (s == "sfm") return ActMode::Sfm;
  if (s == "random") return ActMode::Random;
  if (s == "async") return ActMode::Async;
  fail("policy", "unknown mode '{}', expected sfm, random or async", s);
}

const char* act_mode_name(ActMode mode) {
  switch (mode) {
    case ActMode::Sfm:
      return "sfm";
    case ActMode::Random:
      return "random";
    case ActMode::Async:
      return "async";
  }
  return "?";
}

Observation demo_observation(const LiberoDemo& demo, int64_t t, const std::string& instruction) {
  Observation obs;
  obs.images = {demo.agentview_rgb[t], demo.eye_in_hand_rgb[t]};
  obs.state = torch::cat({demo.ee_states[t], demo.gripper_states[t]}).to(torch::kFloat32);
  obs.instruction = instruction;
  return obs;
}

Policy::Policy(const std::string& checkpoint_dir)
    : dir_(checkpoint_dir), ck_(load_checkpoint(checkpoint_dir)) {
  if (avla::has_rater(checkpoint_dir)) rater_ = load_rater(checkpoint_dir, ck_.config.model);
}

ObservationBatch Policy::prepare(const Observation& obs) const {
  const ModelConfig& mc = ck_.config.model;
  AVLA_CHECK(static_cast<int>(obs.images.size()) == mc.n_cam, "policy",
             "observation has {} images, expected {}", obs.images.size(), mc.n_cam);
  std::vector<torch::Tensor> cams;
  for (size_t i = 0; i < obs.images.size(); ++i) {
    const torch::Tensor& img = obs.images[i];
    AVLA_CHECK(img.dim() == 3 && img.size(2) == 3 && img.scalar_type() == torch::kUInt8, "policy",
               "observation.images[{}] has shape {}, expected uint8 [H,W,3]", i,
               c10::str(img.sizes()));
    cams.push_back(resize_images(img.unsqueeze(0), mc.image_size));  // (1, 3, S, S)
  }
  AVLA_CHECK(obs.state.dim() == 1 && obs.state.size(0) == mc.state_dim, "policy",
             "observation.state has shape {}, expected [{}]", c10::str(obs.state.sizes()),
             mc.state_dim);
  AVLA_CHECK(torch::isfinite(obs.state).all().item<bool>(), "policy",
             "observation.state contains NaN or Inf");
  ObservationBatch batch;
  batch.images = torch::stack(cams, 1);  // (1, n_cam, 3, S, S)
  batch.state = ck_.normalizer.state.normalize(obs.state.to(torch::kFloat32)).unsqueeze(0);
  std::tie(batch.tokens, batch.token_mask) =
      token_tensors(ck_.tokenizer->encode(obs.instruction, mc.max_text_len));
  return batch;
}

void Policy::check_options(const ActOptions& options) const {
  AVLA_CHECK(options.mode != ActMode::Async || has_rater(), "policy",
             "mode async needs a confidence rater, but checkpoint '{}' has none "
             "(rater.safetensors); train one with `asyncvla train-rater --ckpt {}`",
             dir_, dir_);
}

ActResult Policy::act(const Observation& obs, const ActOptions& options) {
  check_options(options);
  const ModelConfig& mc = ck_.config.model;
  const int n_steps = options.n_steps > 0 ? options.n_steps : mc.n_flow_steps;
  c10::InferenceMode inference;  // no autograd bookkeeping at all: ~20 % less per-op overhead
  at::Generator gen = at::detail::createCPUGenerator(options.seed);
  ActResult r;
  Timer total, stage;

  // prefix once: the kv-cache every step below reuses
  ObservationBatch batch = prepare(obs);
  KvCache cache = ck_.model->encode_prefix(batch);
  r.timings.prefix_ms = stage.elapsed_ms();

  // round one: sfm from noise
  stage.reset();
  torch::Tensor noise = torch::randn({1, mc.chunk_len, mc.action_dim}, gen);
  torch::Tensor sfm = sample_sfm(*ck_.model, cache, noise, n_steps);
  r.timings.sfm_ms = stage.elapsed_ms();

  // rate the first round, then choose the tokens to regenerate
  stage.reset();
  torch::Tensor confidence;
  if (has_rater())
    confidence = rater_->forward(cache.prefix_hidden, cache.key_bias, sfm);  // (1, L)
  torch::Tensor mask = torch::zeros({1, mc.chunk_len}, torch::kBool);
  if (options.mode == ActMode::Random) {
    mask = torch::rand({1, mc.chunk_len}, gen) < options.random_mask_prob;
  } else if (options.mode == ActMode::Async) {
    mask = confidence < options.threshold;  // eq. 3
  }
  r.timings.mask_ms = stage.elapsed_ms();

  // round two: afm on masked tokens, same cache, fresh noise
  stage.reset();
  torch::Tensor final_chunk = sfm;
  if (mask.any().item<bool>()) {
    torch::Tensor noise2 = torch::randn({1, mc.chunk_len, mc.action_dim}, gen);
    final_chunk = sample_afm(*ck_.model, cache, sfm, mask, noise2, n_steps);
  }
  r.timings.afm_ms = stage.elapsed_ms();

  r.actions = ck_.normalizer.actions.unnormalize(final_chunk[0]);
  r.sfm_actions = ck_.normalizer.actions.unnormalize(sfm[0]);
  r.mask = mask[0];
  if (confidence.defined()) r.confidence = confidence[0];
  r.timings.total_ms = total.elapsed_ms();
  return r;
}

}  // namespace avla
