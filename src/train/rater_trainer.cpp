#include "train/rater_trainer.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint.h"
#include "data/chunk_sampler.h"
#include "data/dataset.h"
#include "flow/chunk_error.h"
#include "flow/sampler.h"
#include "train/grad_sync.h"
#include "train/optimizer.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

torch::Tensor confidence_labels(const torch::Tensor& errors, const torch::Tensor& valid,
                                double alpha, double beta, double eps) {
  AVLA_CHECK(errors.dim() == 2 && errors.sizes() == valid.sizes(), "rater",
             "errors {} and valid {} must both be [B, L]", c10::str(errors.sizes()),
             c10::str(valid.sizes()));
  const torch::Tensor ok = valid.to(torch::kBool);
  const double inf = std::numeric_limits<double>::infinity();
  // min and max over each sample's valid tokens: (B, 1)
  const torch::Tensor e_min = errors.masked_fill(ok.logical_not(), inf).amin(1, true);
  const torch::Tensor e_max = errors.masked_fill(ok.logical_not(), -inf).amax(1, true);
  torch::Tensor q = 1.0 - alpha - beta * (errors - e_min) / (e_max - e_min + eps);
  return q.masked_fill(ok.logical_not(), 1.0 - alpha);
}

RaterTrainResult train_rater(const RaterTrainOptions& options) {
  options.rater.validate();
  AVLA_CHECK(options.steps >= 1 && options.batch >= 1, "train-rater",
             "--steps {} and --batch {} must be >= 1", options.steps, options.batch);
  DistGroup group(options.dist);
  set_log_enabled(group.is_main());
  const BatchShard shard = group.shard(options.batch);
  Checkpoint ck = load_checkpoint(options.ckpt);
  const ModelConfig& mc = ck.config.model;
  Dataset dataset = load_dataset(options.data, dataset_options(ck.config));
  AVLA_CHECK(dataset.state.size(1) == mc.state_dim && dataset.actions.size(1) == mc.action_dim,
             "train-rater", "data has state {} / actions {} dims, the checkpoint expects {} / {}",
             dataset.state.size(1), dataset.actions.size(1), mc.state_dim, mc.action_dim);
  ChunkSampler sampler(dataset, ck.normalizer, *ck.tokenizer, mc.max_text_len);

  // the backbone is frozen: eval mode, no gradients ever reach it
  ck.model->eval();
  for (auto& p : ck.model->parameters()) p.set_requires_grad(false);
  const torch::Device device = options.device;
  ck.model->to(device);
  torch::manual_seed(options.seed);
  ConfidenceRater rater(options.rater, mc);
  rater->to(device);  // before the optimizer makes its moments
  const int64_t window = options.rater.window_tokens(mc.chunk_len);
  rater->train();
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& item : rater->named_parameters()) named.emplace_back(item.key(), item.value());
  TrainConfig tc;
  tc.steps = options.steps;
  tc.lr = options.lr;
  tc.warmup_steps = std::min(20, options.steps / 10);
  AdamW optimizer({ParamGroup{"rater", named, 1.0}}, tc);
  at::Generator gen = at::detail::createCPUGenerator(options.seed);
  // data parallel: rank 0's initial rater everywhere, gradients averaged during backward
  std::unique_ptr<GradSync> grad_sync;
  if (group.distributed()) {
    group.broadcast(rater->parameters(), "the initial rater weights");
    grad_sync = std::make_unique<GradSync>(group, rater->parameters());
  }

  log_info("[train-rater] {} | rater {} | {} frames | {} steps x batch {}", options.ckpt,
           to_json(options.rater).dump(), dataset.n_frames(), options.steps, options.batch);
  std::ofstream metrics;
  if (group.is_main()) metrics.open(options.ckpt + "/rater_metrics.jsonl", std::ios::trunc);
  RaterTrainResult result;
  ProgressBar bar("train-rater", options.steps);
  Timer timer;
  double interval_loss = 0;
  int interval_steps = 0;
  for (int step = 1; step <= options.steps; ++step) {
    // the global batch's draws on every rank; this rank computes its rows
    torch::Tensor ids = sampler.sample_ids(options.batch, gen);
    TrainBatch batch = sampler.batch(ids.slice(0, shard.begin, shard.end));
    // first round with the frozen policy: sfm chunks and their per-token error labels
    KvCache cache;
    // the tokens rated: valid ones within the rater's window. noise, errors and labels are made
    // on the cpu (the same on every device); the forward passes run on the device
    torch::Tensor sfm, labels;
    const torch::Tensor valid = within_window(batch.valid > 0.5, window);
    {
      torch::NoGradGuard no_grad;
      cache = ck.model->encode_prefix(batch.obs.to(device));
      torch::Tensor noise = torch::randn({options.batch, mc.chunk_len, mc.action_dim}, gen)
                                .slice(0, shard.begin, shard.end);
      sfm = sample_sfm(*ck.model, cache, noise.to(device), mc.n_flow_steps);
      const torch::Tensor errors = label_space_errors(
          sfm.to(torch::kCPU), batch.actions, options.rater.label_space, ck.normalizer.actions);
      labels = confidence_labels(errors, valid, options.rater.alpha, options.rater.beta,
                                 options.rater.eps)
                   .to(device);
    }
    // mse over the valid tokens of the global batch (sums over ranks, then one division)
    torch::Tensor p = rater->forward(cache.prefix_hidden, cache.key_bias, sfm);
    torch::Tensor w = valid.to(device, torch::kFloat32);
    const DistGroup::GlobalMean mean =
        group.global_mean(((p - labels).pow(2) * w).sum(), w.sum(), "the rater loss sums");
    const double loss_value = mean.value;
    AVLA_CHECK(std::isfinite(loss_value), "train-rater",
               "loss is {} at step {} (NaN or Inf); stopped before updating the rater, and no "
               "rater was written",
               loss_value, step);
    optimizer.zero_grad();
    if (grad_sync) grad_sync->begin();
    mean.loss.backward();
    if (grad_sync) grad_sync->finish();
    const double grad_norm = optimizer.clip_grad_norm(1.0);
    AVLA_CHECK(std::isfinite(grad_norm), "train-rater",
               "gradient norm is {} at step {} (NaN or Inf in a gradient); stopped before updating "
               "the rater, and no rater was written",
               grad_norm, step);
    optimizer.step(learning_rate_at(step - 1, tc));
    if (step == 1) result.first_loss = loss_value;
    interval_loss += loss_value;
    ++interval_steps;
    if (step % options.log_every == 0 || step == options.steps) {
      const double mean = interval_loss / interval_steps;
      log_info("rater step {}/{} | loss {:.5f} | {:.0f} ms/step", step, options.steps, mean,
               timer.elapsed_ms() / step);
      if (group.is_main()) {
        metrics << nlohmann::json{{"step", step}, {"loss", mean}}.dump() << "\n";
        metrics.flush();
      }
      result.final_loss = mean;
      interval_loss = 0;
      interval_steps = 0;
    }
    bar.update(step, fmt::format("loss {:.5f}", loss_value));
    result.steps_done = step;
  }
  bar.finish();
  rater->eval();
  if (group.is_main()) save_rater(options.ckpt, options.rater, *rater);
  group.barrier("the end of rater training");
  log_info("[train-rater] wrote {} ({:.1f} s)", rater_weights_path(options.ckpt),
           timer.elapsed_ms() / 1000.0);
  return result;
}

}  // namespace avla
