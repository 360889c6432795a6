#include "eval/rater_quality.h"

#include <nlohmann/json.hpp>

#include "data/chunk_sampler.h"
#include "data/dataset.h"
#include "eval/statistics.h"
#include "flow/chunk_error.h"
#include "model/rater.h"
#include "policy/policy.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

RaterQuality evaluate_rater(const RaterQualityOptions& o) {
  AVLA_CHECK(o.frames >= 1 && o.batch >= 1, "eval-rater", "--frames {} and --batch {} must be >= 1",
             o.frames, o.batch);
  AVLA_CHECK(o.top_fraction > 0 && o.top_fraction < 1, "eval-rater",
             "--top-fraction {} outside (0, 1)", o.top_fraction);
  AVLA_CHECK(o.random_mask_prob > 0 && o.random_mask_prob < 1, "eval-rater",
             "--random-prob {} outside (0, 1)", o.random_mask_prob);
  Policy policy(o.ckpt, o.device, o.precision);
  const Config& config = policy.config();
  const ModelConfig& mc = config.model;
  const RaterConfig& rater = policy.rater_config();
  Dataset dataset = load_dataset(o.data, dataset_options(config));
  const std::string space = o.error_space.empty() ? rater.label_space : o.error_space;
  const auto errors_of = [&](const torch::Tensor& chunk, const torch::Tensor& truth) {
    return label_space_errors(chunk, truth, space, policy.normalizer().actions);
  };
  ChunkSampler sampler(dataset, policy.normalizer(), policy.tokenizer(), mc.max_text_len);
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  const int64_t executed = o.replan ? *o.replan : std::max<int64_t>(1, mc.chunk_len / 2);
  AVLA_CHECK(executed >= 1 && executed <= mc.chunk_len, "eval-rater",
             "--replan {} outside [1, chunk_len {}]", executed, mc.chunk_len);
  // the two second rounds compared: async (the rater's doubtful tokens) and random; both mask
  // only the rater's window, as closed loop does with the default --mask-window
  ActOptions async_options;
  async_options.mode = ActMode::Async;
  async_options.n_steps = o.n_steps;
  async_options.threshold = o.threshold;
  async_options.random_mask_prob = o.random_mask_prob;
  async_options.binarize_gripper = false;
  ActOptions random_options = async_options;
  random_options.mode = ActMode::Random;
  const int64_t window = policy.mask_window(async_options);
  const int64_t k_top = std::max<int64_t>(1, std::llround(o.top_fraction * window));

  c10::InferenceMode inference;
  std::vector<double> scores;
  std::vector<bool> labels;
  // sums over valid tokens per chunk position (L,): squared errors, regenerated tokens,
  // confidences, tokens; every reported mean (whole chunk, executed window) derives from them
  torch::Tensor pos_sfm = torch::zeros({mc.chunk_len}, torch::kFloat64);
  torch::Tensor pos_async = torch::zeros_like(pos_sfm), pos_random = torch::zeros_like(pos_sfm);
  torch::Tensor pos_regen = torch::zeros_like(pos_sfm), pos_conf = torch::zeros_like(pos_sfm);
  torch::Tensor pos_n = torch::zeros_like(pos_sfm);
  int done = 0;
  while (done < o.frames) {
    const int64_t B = std::min(o.batch, o.frames - done);
    TrainBatch batch = sampler.batch(sampler.sample_ids(B, gen));
    // alg. 1 twice from the same per-frame seeds: the same first round, two second rounds
    auto frame_generators = [&] {
      std::vector<at::Generator> gens;
      for (int64_t b = 0; b < B; ++b)
        gens.push_back(at::detail::createCPUGenerator(o.seed * 1000003ULL + done + b));
      return gens;
    };
    std::vector<at::Generator> async_gens = frame_generators(), random_gens = frame_generators();
    const ChunkRounds async_run = policy.act_prepared(batch.obs, async_options, async_gens);
    const ChunkRounds random_run = policy.act_prepared(batch.obs, random_options, random_gens);
    const torch::Tensor& conf = async_run.confidence;                   // (B, L)
    const torch::Tensor err = errors_of(async_run.sfm, batch.actions);  // (B, L)
    const torch::Tensor async_err = errors_of(async_run.chunk, batch.actions);
    const torch::Tensor random_err = errors_of(random_run.chunk, batch.actions);
    const torch::Tensor valid = batch.valid > 0.5;
    const torch::Tensor w = valid.to(torch::kFloat32);
    pos_sfm += (err * w).sum(0).to(torch::kFloat64);
    pos_async += (async_err * w).sum(0).to(torch::kFloat64);
    pos_random += (random_err * w).sum(0).to(torch::kFloat64);
    pos_regen += (async_run.mask.to(torch::kFloat32) * w).sum(0).to(torch::kFloat64);
    pos_conf += (conf * w).sum(0).to(torch::kFloat64);
    pos_n += w.sum(0).to(torch::kFloat64);
    // positives: each chunk's k highest-error valid tokens within the rated window
    const torch::Tensor rated = within_window(valid, window);
    for (int64_t b = 0; b < B; ++b) {
      torch::Tensor e = err[b].masked_fill(rated[b].logical_not(), -1.0);
      const int64_t n_valid = rated[b].sum().item<int64_t>();
      if (n_valid < 2) continue;
      torch::Tensor top = std::get<1>(e.topk(std::min(k_top, n_valid - 1)));
      std::vector<bool> positive(mc.chunk_len, false);
      for (int64_t i = 0; i < top.size(0); ++i) positive[top[i].item<int64_t>()] = true;
      for (int64_t l = 0; l < window; ++l) {
        if (!rated[b][l].item<bool>()) continue;
        scores.push_back(1.0 - conf[b][l].item<double>());
        labels.push_back(positive[l]);
      }
    }
    done += static_cast<int>(B);
    log_info("[eval-rater] {}/{} frames", done, o.frames);
  }
  RaterQuality q;
  q.frames = done;
  q.error_space = space;
  q.window = static_cast<int>(window);
  q.auroc = auroc(scores, labels);
  // means over positions [0, end): the whole chunk and the executed window
  const auto mean_over = [&](const torch::Tensor& sums, int64_t end) {
    return sums.slice(0, 0, end).sum().item<double>() /
           std::max(1.0, pos_n.slice(0, 0, end).sum().item<double>());
  };
  const int64_t L = mc.chunk_len;
  q.sfm_error = mean_over(pos_sfm, L);
  q.async_error = mean_over(pos_async, L);
  q.random_error = mean_over(pos_random, L);
  q.regenerated_fraction = mean_over(pos_regen, L);
  q.mean_confidence = mean_over(pos_conf, L);
  q.executed = static_cast<int>(executed);
  q.sfm_error_executed = mean_over(pos_sfm, executed);
  q.async_error_executed = mean_over(pos_async, executed);
  q.random_error_executed = mean_over(pos_random, executed);
  q.regenerated_executed = mean_over(pos_regen, executed);
  // and per position
  const torch::Tensor pn = pos_n.clamp_min(1.0);
  const auto to_vector = [](const torch::Tensor& t) {
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  };
  q.sfm_error_by_pos = to_vector(pos_sfm / pn);
  q.async_error_by_pos = to_vector(pos_async / pn);
  q.random_error_by_pos = to_vector(pos_random / pn);
  q.regenerated_by_pos = to_vector(pos_regen / pn);
  return q;
}

nlohmann::json to_json(const RaterQuality& q) {
  return {{"frames", q.frames},
          {"error_space", q.error_space},
          {"rated_window", q.window},
          {"auroc_top_error_tokens", q.auroc},
          {"sfm_error", q.sfm_error},
          {"async_afm_error", q.async_error},
          {"random_afm_error", q.random_error},
          {"regenerated_fraction", q.regenerated_fraction},
          {"mean_confidence", q.mean_confidence},
          {"executed_tokens", q.executed},
          {"sfm_error_executed", q.sfm_error_executed},
          {"async_afm_error_executed", q.async_error_executed},
          {"random_afm_error_executed", q.random_error_executed},
          {"regenerated_fraction_executed", q.regenerated_executed},
          {"sfm_error_by_position", q.sfm_error_by_pos},
          {"async_afm_error_by_position", q.async_error_by_pos},
          {"random_afm_error_by_position", q.random_error_by_pos},
          {"regenerated_fraction_by_position", q.regenerated_by_pos}};
}

}  // namespace avla
