#include "policy/policy.h"

#include <cmath>
#include <functional>

#include "data/state_features.h"
#include "flow/sampler.h"
#include "model/backend.h"
#include "model/simd.h"
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

Policy::Policy(const std::string& checkpoint_dir, torch::Device device, Precision precision)
    : dir_(checkpoint_dir),
      device_(device),
      precision_(precision),
      ck_(load_checkpoint(checkpoint_dir)) {
  AVLA_CHECK(precision_ == Precision::Fp32 || (device_.is_cpu() && cpu_has_avx512_bf16()), "policy",
             "--precision {} runs on our cpu kernels: it needs --device cpu and a cpu with "
             "avx512-bf16 (device {})",
             precision_name(precision_), device_.str());
  if (avla::has_rater(checkpoint_dir)) rater_ = load_rater(checkpoint_dir, ck_.config.model);
  ck_.model->to(device_);
  if (has_rater()) rater_->to(device_);
}

bool Policy::privileged_state() const {
  return privileged_dims(ck_.config.model.state_dim) > 0;
}

ObservationEncoder Policy::observation_encoder() const {
  return {ck_.config.model, ck_.normalizer, *ck_.tokenizer, dir_};
}

ObservationBatch Policy::prepare(const Observation& obs) const {
  return observation_encoder().encode({obs});
}

ObservationBatch Policy::prepare(const std::vector<Observation>& obs) const {
  return observation_encoder().encode(obs);
}

void Policy::check_options(const ActOptions& options) const {
  AVLA_CHECK(options.mode != ActMode::Async || has_rater(), "policy",
             "mode async needs a confidence rater, but checkpoint '{}' has none "
             "(rater.safetensors); train one with `asyncvla train-rater --ckpt {}`",
             dir_, dir_);
  AVLA_CHECK(std::isfinite(options.noise_scale) && options.noise_scale >= 0 &&
                 options.noise_scale <= kMaxNoiseScale,
             "policy", "noise scale {} outside [0, {}]", options.noise_scale, kMaxNoiseScale);
  mask_window(options);
  flow_steps(options);
}

int64_t Policy::mask_window(const ActOptions& options) const {
  const int64_t L = ck_.config.model.chunk_len;
  if (options.mask_window) {
    AVLA_CHECK(*options.mask_window >= 1 && *options.mask_window <= L, "policy",
               "mask window {} outside [1, chunk_len {}]", *options.mask_window, L);
    return *options.mask_window;
  }
  return has_rater() ? rater_->cfg.window_tokens(L) : L;
}

int Policy::flow_steps(const ActOptions& options) const {
  if (!options.n_steps) return ck_.config.model.n_flow_steps;
  AVLA_CHECK(*options.n_steps >= 1, "policy", "flow steps {}, expected at least 1",
             *options.n_steps);
  return *options.n_steps;
}

ActResult Policy::act(const Observation& obs, const ActOptions& options) {
  return act_batch({obs}, options, {options.seed})[0];
}

const RaterConfig& Policy::rater_config() const {
  AVLA_CHECK(has_rater(), "policy", "checkpoint '{}' has no confidence rater (rater.safetensors)",
             dir_);
  return rater_->cfg;
}

ChunkRounds Policy::act_prepared(const ObservationBatch& batch, const ActOptions& options,
                                 std::vector<at::Generator>& gens) {
  check_options(options);
  const ModelConfig& mc = ck_.config.model;
  const int64_t B = batch.images.size(0), L = mc.chunk_len, A = mc.action_dim;
  AVLA_CHECK(static_cast<int64_t>(gens.size()) == B, "policy", "{} generators for {} rows",
             gens.size(), B);
  const int n_steps = flow_steps(options);
  c10::InferenceMode inference;  // no autograd bookkeeping at all: ~20 % less per-op overhead
  const PrecisionScope precision(precision_);  // every linear of the model and the rater
  // one draw per row from its own generator: (B, dims...)
  auto per_row = [&](const std::function<torch::Tensor(at::Generator&)>& draw) {
    std::vector<torch::Tensor> rows;
    for (auto& g : gens) rows.push_back(draw(g));
    return torch::cat(rows);
  };
  // a flow round's starting noise: (B, L, A)
  auto draw_noise = [&] {
    return per_row([&](at::Generator& g) {
             return torch::randn({1, L, A}, g);
           })
        .mul_(options.noise_scale)
        .to(device_);
  };
  ChunkRounds r;
  Timer stage;

  // prefix once: the kv-cache every step below reuses (noise and masks are drawn on the cpu, so a
  // row's draws are the same on every device)
  KvCache cache = ck_.model->encode_prefix(batch.to(device_));
  r.timings.prefix_ms = stage.elapsed_ms();

  // round one: sfm from noise
  stage.reset();
  r.sfm = sample_sfm(*ck_.model, cache, draw_noise(), n_steps);  // (B, L, A)
  r.timings.sfm_ms = stage.elapsed_ms();

  // rate the first round, then choose the tokens to regenerate
  stage.reset();
  if (has_rater())
    r.confidence = rater_->forward(cache.prefix_hidden, cache.key_bias, r.sfm);  // (B, L)
  const int64_t window = mask_window(options);
  r.mask = torch::zeros({B, L}, torch::TensorOptions(device_).dtype(torch::kBool));
  if (options.mode == ActMode::Random) {
    const torch::Tensor draws = per_row([&](at::Generator& g) {
                                  return torch::rand({1, L}, g);
                                }).to(device_);
    r.mask = within_window(draws < options.random_mask_prob, window);
  } else if (options.mode == ActMode::Async) {
    r.mask = low_confidence_mask(r.confidence, options.threshold, window);  // eq. 3
  }
  r.timings.mask_ms = stage.elapsed_ms();

  // round two: afm on masked tokens, same cache, fresh noise; rows with no masked token come
  // back bit-identical
  stage.reset();
  r.chunk = r.sfm;
  if (r.mask.any().item<bool>())
    r.chunk = sample_afm(*ck_.model, cache, r.sfm, r.mask, draw_noise(), n_steps);
  r.timings.afm_ms = stage.elapsed_ms();
  for (torch::Tensor* t : {&r.sfm, &r.confidence, &r.mask, &r.chunk})
    *t = to_device(*t, torch::kCPU);
  return r;
}

std::vector<ActResult> Policy::act_batch(const std::vector<Observation>& obs,
                                         const ActOptions& options,
                                         const std::vector<uint64_t>& seeds) {
  check_options(options);
  AVLA_CHECK(seeds.size() == obs.size(), "policy", "{} seeds for {} observations", seeds.size(),
             obs.size());
  const int64_t B = static_cast<int64_t>(obs.size()), A = ck_.config.model.action_dim;
  c10::InferenceMode inference;
  std::vector<at::Generator> gens;
  for (uint64_t seed : seeds) gens.push_back(at::detail::createCPUGenerator(seed));
  Timer total, stage;
  const ObservationBatch batch = prepare(obs);
  const double prepare_ms = stage.elapsed_ms();
  ChunkRounds rounds = act_prepared(batch, options, gens);
  rounds.timings.prefix_ms += prepare_ms;

  torch::Tensor actions = ck_.normalizer.actions.unnormalize(rounds.chunk);  // (B, L, A)
  if (options.binarize_gripper) {
    torch::Tensor grip = actions.select(2, A - 1);
    grip.copy_(torch::where(grip >= 0, 1.0f, -1.0f));
  }
  torch::Tensor sfm_actions = ck_.normalizer.actions.unnormalize(rounds.sfm);
  rounds.timings.total_ms = total.elapsed_ms();
  std::vector<ActResult> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    ActResult& r = out[static_cast<size_t>(b)];
    r.actions = actions[b];
    r.sfm_actions = sfm_actions[b];
    r.mask = rounds.mask[b];
    if (rounds.confidence.defined()) r.confidence = rounds.confidence[b];
    r.timings = rounds.timings;
  }
  return out;
}

}  // namespace avla
