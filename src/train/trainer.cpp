#include "train/trainer.h"

#include <ATen/autocast_mode.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/chunk_sampler.h"
#include "data/dataset.h"
#include "data/image_augment.h"
#include "flow/flow_matching.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "train/checkpoint.h"
#include "train/ema.h"
#include "train/optimizer.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

namespace fs = std::filesystem;

namespace {

std::vector<ParamGroup> param_groups(VLAImpl& model) {
  ParamGroup vision{"vision", {}, 0.0}, rest{"rest", {}, 1.0};
  for (const auto& p : model.named_parameters(true)) {
    auto& group = p.key().rfind("vision_encoder.", 0) == 0 ? vision : rest;
    group.params.emplace_back(p.key(), p.value());
  }
  return {vision, rest};
}

// bf16 autocast for one scope; always switched off again, also when the forward throws
struct Bf16Autocast {
  explicit Bf16Autocast(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  }
  ~Bf16Autocast() {
    if (!on_) return;
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }
  bool on_;
};

}  // namespace

torch::Tensor unified_flow_loss(VLAImpl& model, const TrainBatch& batch, const TrainConfig& tc,
                                at::Generator& gen) {
  // K draws per observation: rows b*K .. b*K+K-1 belong to observation b
  const int64_t K = tc.flow_draws;
  torch::Tensor actions = batch.actions.repeat_interleave(K, 0);  // (B*K, L, A)
  torch::Tensor valid = batch.valid.repeat_interleave(K, 0);      // (B*K, L)
  const int64_t BK = actions.size(0), L = actions.size(1);
  const double sfm_share = tc.vanilla ? 1.0 : tc.sfm_share;
  torch::Tensor tau = sample_flow_time(BK, gen);                        // (B*K)
  torch::Tensor mask = sample_flow_mask(BK, L, sfm_share, gen);         // (B*K, L)
  torch::Tensor noise = torch::randn(actions.sizes(), gen);             // (B*K, L, A)
  torch::Tensor noisy = make_noisy_actions(actions, noise, tau, mask);  // eq. 5
  torch::Tensor target = noise - actions;                               // u = n - a
  torch::Tensor velocity;
  {
    Bf16Autocast autocast(tc.bf16);
    KvCache cache = model.encode_prefix(batch.obs).repeat_rows(K);
    velocity = model.velocity(cache, noisy, token_time(tau, mask));
  }
  return loss_flow(velocity.to(torch::kFloat32), target, mask, valid);  // eq. 4
}

TrainResult train(const TrainOptions& options) {
  Config config = options.config;
  const std::string& out = options.out_dir;
  AVLA_CHECK(!out.empty(), "train", "--out is required");
  if (options.resume) {
    // the run's own config wins, except the step budget the user may extend
    Config saved =
        config_from_json(read_json_file(out + "/config.json", "train"), out + "/config.json");
    saved.train.steps = config.train.steps;
    config = saved;
  } else {
    AVLA_CHECK(!fs::exists(out + "/train_state.safetensors"), "train",
               "'{}' already holds a training run; pass --resume or choose another --out", out);
  }
  config.train.validate();
  const TrainConfig& tc = config.train;
  if (tc.bf16 && !__builtin_cpu_supports("avx512bf16")) {
    log_info(
        "[train] warning: --bf16 on a CPU without bf16 instructions (avx512_bf16/amx) runs "
        "LibTorch's slow bf16 fallback; fp32 is much faster here (docs/BENCHMARKS.md)");
  }

  // data, tokenizer, normalizer (the saved ones when resuming)
  Dataset dataset = load_dataset(expand_data_paths(options.data),
                                 {config.model.image_size, config.model.chunk_len, tc.pause_eps});
  std::unique_ptr<Tokenizer> tokenizer;
  Normalizer normalizer;
  if (options.resume) {
    tokenizer = load_tokenizer(out + "/tokenizer.json");
    normalizer = Normalizer::load(out + "/norm_stats.json");
  } else {
    tokenizer = std::make_unique<WordTokenizer>(WordTokenizer::build(dataset.instructions()));
    normalizer.state = NormStats::compute(dataset.state, NormMode::MeanStd);
    normalizer.actions = NormStats::compute(dataset.actions, NormMode::Quantile);
    config.model.vocab_size = tokenizer->vocab_size();
  }
  AVLA_CHECK(dataset.state.size(1) == config.model.state_dim, "train",
             "data state has {} dims, model.state_dim is {}", dataset.state.size(1),
             config.model.state_dim);
  AVLA_CHECK(dataset.actions.size(1) == config.model.action_dim, "train",
             "data actions have {} dims, model.action_dim is {}", dataset.actions.size(1),
             config.model.action_dim);
  ChunkSampler sampler(dataset, normalizer, *tokenizer, config.model.max_text_len);

  // model + optimizer; the generator drives sampling, augmentation, masks, times and noise
  torch::manual_seed(tc.seed);
  VLA model(config.model);
  auto groups = param_groups(*model);
  groups[0].lr_scale = tc.vision_lr_scale;
  AdamW optimizer(groups, tc);
  at::Generator gen = at::detail::createCPUGenerator(tc.seed);
  // the weights a policy uses: their ema when ema_decay > 0, else the trained weights themselves
  VLA average{nullptr};
  std::unique_ptr<WeightEma> ema;
  if (tc.ema_decay > 0) {
    average = VLA(config.model);
    ema = std::make_unique<WeightEma>(*model, *average, tc.ema_decay);
  }
  VLAImpl& saved_model = ema ? *average : *model;
  int64_t start_step = 0;
  double elapsed_before = 0;  // training seconds of earlier invocations of this run
  if (options.resume) {
    TrainState state = load_train_state(out);
    if (ema) {
      load_module_strict(*average, out + "/model.safetensors");
      load_state_strict(*model, state.tensors, out + "/train_state.safetensors", "weights.");
    } else {
      load_module_strict(*model, out + "/model.safetensors");
    }
    optimizer.load_state(state.tensors, out + "/train_state.safetensors");
    gen.set_state(state.rng_state);
    start_step = state.step;
    elapsed_before = state.elapsed_s;
    log_info("[train] resuming {} at step {} ({:.0f} s trained)", out, start_step, elapsed_before);
  }
  int64_t n_params = 0;
  for (const auto& p : model->parameters()) n_params += p.numel();
  log_info("[train] config {}", to_json(config).dump());
  log_info("[train] {} parameters, {} frames, vocab {}, threads {}", n_params, dataset.n_frames(),
           tokenizer->vocab_size(), torch::get_num_threads());

  fs::create_directories(out);
  Timer total_timer;
  auto elapsed_s = [&] { return elapsed_before + total_timer.elapsed_ms() / 1000.0; };
  auto checkpoint = [&](int64_t step) {
    save_checkpoint(out, config, saved_model, normalizer, *tokenizer);
    TrainState state{optimizer.state(), gen.get_state(), step, elapsed_s()};
    if (ema) {
      for (auto& [name, t] : module_state(*model)) state.tensors["weights." + name] = t;
    }
    save_train_state(out, state);
  };
  // a policy-only checkpoint of this moment, for success-vs-training-time curves
  auto snapshot = [&](int64_t step) {
    const std::string snap = fmt::format("{}/snapshots/step_{:06d}", out, step);
    save_checkpoint(snap, config, saved_model, normalizer, *tokenizer);
    write_file_atomic(snap + "/snapshot.json",
                      nlohmann::json{{"step", step}, {"elapsed_s", elapsed_s()}}.dump() + "\n");
  };
  std::ofstream metrics(out + "/metrics.jsonl", options.resume ? std::ios::app : std::ios::trunc);
  AVLA_CHECK(metrics.good(), "train", "cannot write '{}/metrics.jsonl'", out);

  model->train();
  TrainResult result;
  ProgressBar bar("train", tc.steps);
  Timer interval_timer;
  double interval_loss = 0.0;
  int interval_steps = 0;
  int64_t step = start_step;
  auto time_progress = [&] {
    return options.time_limit_s > 0 ? elapsed_s() / options.time_limit_s : 0.0;
  };
  while (step < tc.steps && time_progress() < 1.0) {
    const double lr = learning_rate_at(step, tc, time_progress());
    TrainBatch batch = sampler.batch(sampler.sample_ids(tc.batch, gen));
    batch.obs.images = random_shift(batch.obs.images, tc.aug_shift, gen);
    torch::Tensor loss = unified_flow_loss(*model, batch, tc, gen);
    const double loss_value = loss.item<double>();
    AVLA_CHECK(std::isfinite(loss_value), "train", "loss is {} at step {}", loss_value, step + 1);
    optimizer.zero_grad();
    loss.backward();
    const double grad_norm = optimizer.clip_grad_norm(tc.grad_clip);
    optimizer.step(lr);
    ++step;
    if (ema) ema->update(step);
    interval_loss += loss_value;
    ++interval_steps;

    const bool last = step == tc.steps || time_progress() >= 1.0;
    const bool stop = options.stop_after > 0 && step - start_step >= options.stop_after;
    if (step % tc.log_every == 0 || last || stop) {
      const double ms = interval_timer.elapsed_ms() / interval_steps;
      const double mean_loss = interval_loss / interval_steps;
      const double sps = tc.batch * 1000.0 / ms;
      log_info("step {}/{} | loss {:.4f} | lr {:.1e} | grad {:.2f} | {:.0f} ms | {:.0f} samples/s",
               step, tc.steps, mean_loss, lr, grad_norm, ms, sps);
      metrics << nlohmann::json{{"step", step},
                                {"loss", mean_loss},
                                {"lr", lr},
                                {"grad_norm", grad_norm},
                                {"ms_per_step", ms},
                                {"samples_per_s", sps},
                                {"elapsed_s", elapsed_s()}}
                     .dump()
              << "\n";
      metrics.flush();
      result.final_loss = mean_loss;
      interval_loss = 0.0;
      interval_steps = 0;
      interval_timer.reset();
    }
    bar.update(step, fmt::format("loss {:.4f}", loss_value));
    if (step % tc.save_every == 0 || last || stop) checkpoint(step);
    if (tc.keep_every > 0 && step % tc.keep_every == 0) snapshot(step);
    if (stop) {
      log_info("[train] stopping after step {} (--stop-after); resume with --resume", step);
      break;
    }
  }
  bar.finish();
  if (time_progress() >= 1.0) {
    log_info("[train] schedule ended at the time limit ({:.0f} s) after step {}",
             options.time_limit_s, step);
  }
  result.steps_done = step;
  log_info("[train] checkpoint in {} ({:.1f} s)", out, total_timer.elapsed_ms() / 1000.0);
  return result;
}

}  // namespace avla
