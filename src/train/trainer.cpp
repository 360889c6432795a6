#include "train/trainer.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint.h"
#include "checkpoint/pretrained_vision.h"
#include "data/chunk_sampler.h"
#include "data/dataset.h"
#include "data/object_state.h"
#include "flow/flow_matching.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "model/autocast.h"
#include "model/backend.h"
#include "train/batch_prefetcher.h"
#include "train/ema.h"
#include "train/grad_sync.h"
#include "train/optimizer.h"
#include "train/train_state.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

namespace fs = std::filesystem;

namespace {

std::vector<ParamGroup> param_groups(VLAImpl& model) {
  ParamGroup vision{"vision", {}, 0.0}, rest{"rest", {}, 1.0};
  for (const auto& p : model.named_parameters(true)) {
    const bool is_vision =
        p.key().rfind("vision_encoder.", 0) == 0 || p.key().rfind("vision_probe.", 0) == 0;
    auto& group = is_vision ? vision : rest;
    group.params.emplace_back(p.key(), p.value());
  }
  return {vision, rest};
}

// the data of a run: its frames, and the tokenizer and normalizer (the run's own on a resume; a
// fresh run builds them and sets config.model.vocab_size)
struct RunData {
  Dataset dataset;
  std::unique_ptr<Tokenizer> tokenizer;
  Normalizer normalizer;
};

RunData load_run_data(const TrainOptions& options, Config& config, bool resume) {
  const TrainConfig& tc = config.train;
  DatasetOptions data_options = dataset_options(config);
  data_options.object_states = tc.aux_object_weight > 0;
  // the cameras: the run's on a resume, config.model.n_cam's first ones where --cameras set it
  // (0: a state-only model), else all of the data's
  if (!resume && !options.given.count("model.n_cam")) data_options.n_cam = -1;
  RunData d{load_dataset(options.data, data_options), nullptr, {}};
  if (resume) {
    d.tokenizer = load_tokenizer(options.out_dir + "/tokenizer.json");
    d.normalizer = Normalizer::load(options.out_dir + "/norm_stats.json");
  } else {
    d.tokenizer = std::make_unique<WordTokenizer>(WordTokenizer::build(d.dataset.instructions()));
    d.normalizer.state = NormStats::compute(d.dataset.state, NormMode::MeanStd, tc.state_std_floor);
    d.normalizer.actions =
        NormStats::compute(d.dataset.actions, NormMode::Quantile, tc.action_range_floor);
    config.model.vocab_size = d.tokenizer->vocab_size();
  }
  // the camera set follows the data unless --cameras chose it (a checkpoint saves it): Bridge
  // and Fractal have one
  const int data_cams = static_cast<int>(d.dataset.images.size(1));
  if (data_cams != config.model.n_cam) {
    log_info("[train] model.n_cam {} -> {}: the data's cameras", config.model.n_cam, data_cams);
    config.model.n_cam = data_cams;
  }
  AVLA_CHECK(d.dataset.state.size(1) == config.model.state_dim, "train",
             "data state has {} dims, model.state_dim is {}", d.dataset.state.size(1),
             config.model.state_dim);
  AVLA_CHECK(d.dataset.actions.size(1) == config.model.action_dim, "train",
             "data actions have {} dims, model.action_dim is {}", d.dataset.actions.size(1),
             config.model.action_dim);
  return d;
}

// a fresh run's pretrained encoder (and the probe a scene token reads), loaded before the ema
// copies the weights; frozen, they leave the optimizer and autograd altogether
void init_vision(VLAImpl& model, const Config& config, bool resume) {
  const TrainConfig& tc = config.train;
  AVLA_CHECK(config.model.scene_slots == 0 || !tc.init_vision.empty(), "train",
             "model.scene_slots {} needs train.init_vision (the scene token reads a pretrained "
             "probe)",
             config.model.scene_slots);
  AVLA_CHECK(config.model.n_cam > 0 || (tc.init_vision.empty() && !tc.freeze_vision), "train",
             "a state-only model (no cameras) has no vision encoder for --init-vision or "
             "--freeze-vision");
  if (!tc.init_vision.empty() && !resume) {
    load_pretrained_vision(*model.vision_encoder, config.model, tc.init_vision);
    if (config.model.scene_slots > 0) {
      const int slots = pretrained_probe_slots(tc.init_vision);
      AVLA_CHECK(slots == config.model.scene_slots, "init-vision",
                 "model.scene_slots is {} but the probe in {} has {} label slots",
                 config.model.scene_slots, tc.init_vision, slots);
      load_pretrained_probe(*model.vision_probe, config.model, tc.init_vision);
    }
    log_info("[train] vision encoder{} from {}{}", config.model.scene_slots > 0 ? " and probe" : "",
             tc.init_vision,
             tc.freeze_vision ? " (frozen)"
                              : fmt::format(" (fine-tuned at lr x {})", tc.vision_lr_scale));
  }
  if (tc.freeze_vision) {
    for (auto& p : model.vision_encoder->parameters()) p.set_requires_grad(false);
    if (model.vision_probe) {
      for (auto& p : model.vision_probe->parameters()) p.set_requires_grad(false);
    }
  }
}

// a frozen encoder's tokens of every frame, once (in the dtype a step's forward makes them)
void cache_vision_tokens(VLAImpl& model, const Dataset& dataset, ChunkSampler& sampler, bool bf16,
                         const torch::Device& device) {
  Timer cache_timer;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t begin = 0; begin < dataset.n_frames(); begin += 256) {
    const int64_t n = std::min<int64_t>(256, dataset.n_frames() - begin);
    Bf16Autocast autocast(bf16, device.type());
    parts.push_back(
        model.vision_encoder(dataset.images.narrow(0, begin, n).to(device)).to(torch::kCPU));
  }
  torch::Tensor tokens = torch::cat(parts);  // (N, n_tok, d)
  log_info("[train] cached the frozen encoder's tokens of {} frames in {:.1f} s ({:.0f} MB)",
           dataset.n_frames(), cache_timer.elapsed_ms() / 1000.0, tokens.nbytes() / 1e6);
  sampler.set_image_tokens(std::move(tokens));
}

// data parallel (nullptr when not distributed): every rank starts from rank 0's weights, and
// the gradients are all-reduced in buckets while the backward runs
std::unique_ptr<GradSync> start_data_parallel(DistGroup& group, VLAImpl& model, const VLA& average,
                                              const BatchShard& shard, const TrainConfig& tc) {
  if (!group.distributed()) return nullptr;
  std::vector<torch::Tensor> weights;
  for (auto& [name, t] : module_state(model)) weights.push_back(t);
  if (average) {
    for (auto& [name, t] : module_state(*average)) weights.push_back(t);
  }
  group.broadcast(weights, "the initial weights");
  std::vector<torch::Tensor> trained;
  for (const auto& p : model.parameters()) {
    if (p.requires_grad()) trained.push_back(p);
  }
  auto grad_sync = std::make_unique<GradSync>(group, trained);
  // all-reduces of a gradient-sized buffer (the best of 3; the first also sets up
  // connections): the communication a step must hide
  torch::Tensor probe = torch::zeros({grad_sync->n_bytes() / 4}, torch::kFloat32);
  double probe_ms = 1e30;
  for (int i = 0; i < 3; ++i) {
    Timer probe_timer;
    group.all_reduce_sum_async(probe, "the start-up all-reduce")();
    probe_ms = std::min(probe_ms, probe_timer.elapsed_ms());
  }
  log_info(
      "[dist] {} ranks (gloo), {} rows of each batch of {} on rank 0; gradients {:.1f} MB in {} "
      "buckets, one all-reduce of them {:.1f} ms",
      group.world_size(), shard.size(), tc.batch, grad_sync->n_bytes() / 1e6,
      grad_sync->n_buckets(), probe_ms);
  return grad_sync;
}

// what one log line averages over its steps
struct IntervalStats {
  double loss = 0, object = 0, data_ms = 0, ema_ms = 0, sync_ms = 0;
  int steps = 0;
  Timer timer;
};

// one log line for the interval (and one metrics.jsonl line when metrics is given), then a fresh
// interval; returns the interval's mean loss
double log_interval(IntervalStats& in, int64_t step, double lr, double grad_norm, double clock_s,
                    const TrainConfig& tc, bool synced, std::ofstream* metrics) {
  const double n = in.steps;
  const double ms = in.timer.elapsed_ms() / n, mean_loss = in.loss / n;
  const double sps = tc.batch * 1000.0 / ms, mean_object = in.object / n;
  const std::string object =
      tc.aux_object_weight > 0 ? fmt::format(" | obj {:.4f}", mean_object) : "";
  const std::string sync = synced ? fmt::format(" | sync {:.1f} ms", in.sync_ms / n) : "";
  log_info(
      "step {}/{} | loss {:.4f}{} | lr {:.1e} | grad {:.2f} | {:.0f} ms (data {:.1f}, ema "
      "{:.1f}) | {:.0f} samples/s{}",
      step, tc.steps, mean_loss, object, lr, grad_norm, ms, in.data_ms / n, in.ema_ms / n, sps,
      sync);
  if (metrics != nullptr) {
    nlohmann::json line{{"step", step},           {"loss", mean_loss}, {"lr", lr},
                        {"grad_norm", grad_norm}, {"ms_per_step", ms}, {"samples_per_s", sps},
                        {"elapsed_s", clock_s}};
    line["data_ms"] = in.data_ms / n;
    line["ema_ms"] = in.ema_ms / n;
    if (synced) line["sync_ms"] = in.sync_ms / n;
    if (tc.aux_object_weight > 0) line["loss_object"] = mean_object;
    *metrics << line.dump() << "\n";
    metrics->flush();
  }
  in = IntervalStats{};
  return mean_loss;
}

// whether the run in options.out_dir resumes (it has a train state), and its config: the run's
// saved one on a resume (a given flag that contradicts it is an error), validated
bool plan_run(const TrainOptions& options, Config& config) {
  const std::string& out = options.out_dir;
  // a run resumes from its train state alone (written first at every save, atomically); one
  // killed before its first save has none and starts over
  const bool resume = options.resume && fs::exists(out + "/train_state.safetensors");
  if (options.resume && !resume) {
    log_info(
        "[train] --resume: {} has no train state yet (stopped before its first save); "
        "starting the run from step 0",
        out);
  }
  if (resume) {
    config = resumed_config(out, config, options.given);
  } else {
    AVLA_CHECK(!fs::exists(out + "/train_state.safetensors"), "train",
               "'{}' already holds a training run; pass --resume or choose another --out", out);
  }
  config.train.validate();
  const TrainConfig& tc = config.train;
  AVLA_CHECK(
      (tc.aux_object_weight > 0) == (config.model.aux_object_dim > 0) &&
          (config.model.aux_object_dim == 0 || config.model.aux_object_dim == object_state_dim),
      "train",
      "train.aux_object_weight {} needs model.aux_object_dim {} (the object head), and "
      "the head only with a weight > 0; found model.aux_object_dim {}",
      tc.aux_object_weight, object_state_dim, config.model.aux_object_dim);
  if (tc.bf16 && !__builtin_cpu_supports("avx512bf16")) {
    log_info(
        "[train] warning: --bf16 on a CPU without bf16 instructions (avx512_bf16/amx) runs "
        "LibTorch's slow bf16 fallback; fp32 is much faster here (docs/BENCHMARKS.md)");
  }
  return resume;
}

// loads the run's train state into the weights, their average (when kept), the optimizer and
// the generator; returns it (its step and trained seconds)
TrainState restore_run(const std::string& out, VLAImpl& model, VLA average, AdamW& optimizer,
                       at::Generator& gen, int world_size, int64_t batch) {
  TrainState state = load_train_state(out);
  const std::string state_path = out + "/train_state.safetensors";
  load_state_strict(model, state.tensors, state_path, "weights.");
  if (average) load_state_strict(*average, state.tensors, state_path, "ema.");
  optimizer.load_state(state.tensors, state_path);
  gen.set_state(state.rng_state);
  log_info("[train] resuming {} at step {} ({:.0f} s trained)", out, state.step, state.elapsed_s);
  if (state.world_size != world_size) {
    log_info(
        "[train] the run was saved by {} rank(s) and resumes on {}: the global batch of {} and "
        "every random draw do not depend on the world size, so it continues as before",
        state.world_size, world_size, batch);
  }
  return state;
}

}  // namespace

Config resumed_config(const std::string& out, const Config& given_config,
                      const std::set<std::string>& given) {
  const std::string path = out + "/config.json";
  Config saved = config_from_json(read_json_file(path, "train"), path);
  const nlohmann::json run = to_json(saved), now = to_json(given_config);
  for (const std::string& field : given) {
    if (field == "train.steps" || field == "train.time_limit_s" || field == "model.vocab_size") {
      continue;
    }
    const size_t dot = field.find('.');
    const std::string section = field.substr(0, dot), key = field.substr(dot + 1);
    AVLA_CHECK(dot != std::string::npos && run.contains(section) && run.at(section).contains(key),
               "train", "unknown config field '{}'", field);
    const nlohmann::json& a = run.at(section).at(key);
    const nlohmann::json& b = now.at(section).at(key);
    AVLA_CHECK(a == b, "train",
               "--resume: {} is {} in the run ({}) but {} was given; a resumed run keeps its "
               "options (only --steps and --time-limit may extend it)",
               field, a.dump(), path, b.dump());
  }
  if (given.count("train.steps")) saved.train.steps = given_config.train.steps;
  if (given.count("train.time_limit_s")) saved.train.time_limit_s = given_config.train.time_limit_s;
  return saved;
}

TrainResult train(const TrainOptions& options) {
  Config config = options.config;
  const std::string& out = options.out_dir;
  AVLA_CHECK(!out.empty(), "train", "--out is required");
  // the process group first: a rank that fails below then fails the others' first collective
  DistGroup group(options.dist);
  set_log_enabled(group.is_main());
  const bool resume = plan_run(options, config);
  const TrainConfig& tc = config.train;

  // data, tokenizer, normalizer (the saved ones when resuming)
  const RunData data = load_run_data(options, config, resume);
  const Dataset& dataset = data.dataset;
  const Tokenizer& tokenizer = *data.tokenizer;
  const Normalizer& normalizer = data.normalizer;
  ChunkSampler sampler(dataset, normalizer, tokenizer, config.model.max_text_len);

  // model + optimizer; the generator drives sampling, augmentation, masks, times and noise
  torch::manual_seed(tc.seed);
  VLA model(config.model);
  // a pretrained encoder: loaded before the ema copies the weights; frozen, it leaves the
  // optimizer and autograd altogether
  init_vision(*model, config, resume);
  const torch::Device device = options.device;
  model->to(device);  // before the optimizer and the average copy the weights' places
  auto groups = param_groups(*model);
  groups[0].lr_scale = tc.vision_lr_scale;
  if (tc.freeze_vision) groups.erase(groups.begin());
  if (tc.cache_vision) cache_vision_tokens(*model, dataset, sampler, tc.bf16, device);
  AdamW optimizer(groups, tc);
  at::Generator gen = at::detail::createCPUGenerator(tc.seed);
  // the weights a policy uses: their ema when ema_decay > 0, else the trained weights themselves
  VLA average{nullptr};
  std::unique_ptr<WeightEma> ema;
  if (tc.ema_decay > 0) {
    average = VLA(config.model);
    average->to(device);
    ema = std::make_unique<WeightEma>(*model, *average, tc.ema_decay);
  }
  VLAImpl& saved_model = ema ? *average : *model;
  // a resume: the weights, their average, adam's moments and the generator where the run saved
  int64_t start_step = 0;
  double elapsed_before = 0;  // training seconds of earlier invocations of this run
  if (resume) {
    const TrainState state =
        restore_run(out, *model, average, optimizer, gen, group.world_size(), tc.batch);
    start_step = state.step;
    elapsed_before = state.elapsed_s;
  }
  // every rank starts from rank 0's weights; the generator is the same on all ranks
  const BatchShard shard = group.shard(tc.batch);
  std::unique_ptr<GradSync> grad_sync = start_data_parallel(group, *model, average, shard, tc);
  int64_t n_params = 0;
  for (const auto& p : model->parameters()) n_params += p.numel();
  log_info("[train] config {}", to_json(config).dump());
  log_info("[train] {} parameters, {} frames, vocab {}, threads {}, device {}", n_params,
           dataset.n_frames(), tokenizer.vocab_size(), torch::get_num_threads(), device.str());

  fs::create_directories(out);
  if (group.is_main()) {
    if (const int stale = remove_stale_temps(out); stale > 0) {
      log_info("[train] removed {} unfinished temporary file(s) of an interrupted save in {}",
               stale, out);
    }
  }
  // a fresh run writes its policy files (config, tokenizer, norm stats, initial weights) before
  // any train state exists, so a resumable run always has them
  if (!resume && group.is_main()) save_checkpoint(out, config, saved_model, normalizer, tokenizer);
  Timer total_timer;
  auto elapsed_s = [&] { return elapsed_before + total_timer.elapsed_ms() / 1000.0; };
  // a save: the train state first (everything a resume needs, in one atomic file), then the
  // policy files (each atomic). a kill between the two leaves a policy one save behind, never a
  // run that cannot resume or a checkpoint that does not load.
  int64_t saved_step = start_step;  // what the checkpoint in out holds
  // the generator's stream after the last step's own draws (the loader draws ahead of it)
  torch::Tensor rng_after_step = gen.get_state();
  auto checkpoint = [&](int64_t step) {
    saved_step = step;
    TrainState state{optimizer.state(), rng_after_step, step, elapsed_s(), group.world_size()};
    for (auto& [name, t] : module_state(*model)) state.tensors["weights." + name] = t;
    if (ema) {
      for (auto& [name, t] : module_state(*average)) state.tensors["ema." + name] = t;
    }
    save_train_state(out, state);
    save_checkpoint(out, config, saved_model, normalizer, tokenizer);
  };
  // a policy-only checkpoint of this moment, for success-vs-training-time curves
  auto snapshot = [&](int64_t step) {
    const std::string snap = fmt::format("{}/snapshots/step_{:06d}", out, step);
    save_checkpoint(snap, config, saved_model, normalizer, tokenizer);
    write_file_atomic(snap + "/snapshot.json",
                      nlohmann::json{{"step", step}, {"elapsed_s", elapsed_s()}}.dump() + "\n");
  };
  std::ofstream metrics;
  if (group.is_main()) {
    metrics.open(out + "/metrics.jsonl", resume ? std::ios::app : std::ios::trunc);
    AVLA_CHECK(metrics.good(), "train", "cannot write '{}/metrics.jsonl'", out);
  }

  model->train();
  TrainResult result;
  ProgressBar bar("train", tc.steps);
  IntervalStats interval;
  int64_t step = start_step;
  // the run's clock: rank 0's, so that every rank ends a time-limited schedule at the same step
  double clock_s = elapsed_before;
  auto time_progress = [&] { return tc.time_limit_s > 0 ? clock_s / tc.time_limit_s : 0.0; };
  // the global batch's draws on every rank; this rank loads and computes its rows. the next
  // batch is assembled while this step computes; its draws follow this step's flow draws in the
  // generator's stream, as in a serial loop, and a save stores the stream after this step's draws
  BatchPrefetcher loader(sampler, tc.batch, tc.aug_shift, shard, options.prefetch);
  loader.request(gen);
  while (step < tc.steps && time_progress() < 1.0) {
    const double lr = learning_rate_at(step, tc, time_progress());
    Timer data_timer;
    TrainBatch batch = loader.take();
    const FlowDraws draws =
        draw_flow(shard, batch.actions.size(1), batch.actions.size(2), tc, gen).to(device);
    batch = batch.to(device);  // a no-op on the cpu
    rng_after_step = gen.get_state();
    loader.request(gen);
    interval.data_ms += data_timer.elapsed_ms();
    const TrainLossTerms terms = unified_flow_loss(*model, batch, tc, draws);
    // eq. 4 over the global batch, with rank 0's clock and the object loss's sum summed along
    const double object_local = terms.object_sum.defined() ? terms.object_sum.item<double>() : 0.0;
    const DistGroup::GlobalMean mean =
        group.global_mean(terms.flow.sum, terms.flow.count, "the loss sums",
                          {group.is_main() ? elapsed_s() : 0.0, object_local});
    const double loss_value = mean.value;
    clock_s = mean.extra[0];
    // the object loss: a mean over the global batch's rows and dims, scaled like mean.loss (the
    // gradients are averaged over ranks)
    const double object_count = static_cast<double>(tc.batch) * object_state_dim;
    const double object_value = mean.extra[1] / object_count;
    torch::Tensor loss = mean.loss;
    if (terms.object_sum.defined()) {
      loss = loss + terms.object_sum * (tc.aux_object_weight * group.world_size() / object_count);
    }
    // a non-finite loss or gradient stops the run before the optimizer touches the weights:
    // the checkpoint in out stays the last good one (docs/RELIABILITY.md)
    AVLA_CHECK(std::isfinite(loss_value), "train",
               "loss is {} at step {}; stopped before updating the weights, the checkpoint in {} "
               "is the last good one (step {})",
               loss_value, step + 1, out, saved_step);
    optimizer.zero_grad();
    if (grad_sync) grad_sync->begin();
    loss.backward();
    if (grad_sync) {
      grad_sync->finish();
      interval.sync_ms += grad_sync->last_wait_ms();
    }
    const double grad_norm = optimizer.clip_grad_norm(tc.grad_clip);
    AVLA_CHECK(std::isfinite(grad_norm), "train",
               "gradient norm is {} at step {} (NaN or Inf in a gradient); stopped before updating "
               "the weights, the checkpoint in {} is the last good one (step {})",
               grad_norm, step + 1, out, saved_step);
    optimizer.step(lr);
    ++step;
    Timer ema_timer;
    if (ema) ema->update(step);
    interval.ema_ms += ema_timer.elapsed_ms();
    interval.loss += loss_value;
    interval.object += object_value;
    ++interval.steps;

    const bool last = step == tc.steps || time_progress() >= 1.0;
    const bool stop = options.stop_after > 0 && step - start_step >= options.stop_after;
    if (step % tc.log_every == 0 || last || stop) {
      result.final_loss = log_interval(interval, step, lr, grad_norm, clock_s, tc,
                                       grad_sync != nullptr, group.is_main() ? &metrics : nullptr);
    }
    bar.update(step, fmt::format("loss {:.4f}", loss_value));
    if (group.is_main() && (step % tc.save_every == 0 || last || stop)) checkpoint(step);
    if (group.is_main() && tc.keep_every > 0 && step % tc.keep_every == 0) snapshot(step);
    if (stop) {
      log_info("[train] stopping after step {} (--stop-after); resume with --resume", step);
      break;
    }
  }
  bar.finish();
  if (time_progress() >= 1.0) {
    log_info("[train] schedule ended at the time limit ({:.0f} s) after step {}", tc.time_limit_s,
             step);
  }
  result.steps_done = step;
  // rank 0 hosts the store: nobody leaves while another rank still needs it
  group.barrier("the end of training");
  log_info("[train] checkpoint in {} ({:.1f} s)", out, total_timer.elapsed_ms() / 1000.0);
  return result;
}

}  // namespace avla
