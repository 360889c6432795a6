#include "train/vision_pretrain.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "checkpoint/pretrained_vision.h"
#include "data/image_augment.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "model/autocast.h"
#include "train/optimizer.h"
#include "train/train_state.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

namespace fs = std::filesystem;

ProbeLoss probe_loss(const ProbeOutput& out, const VisionCorpus& batch) {
  namespace F = torch::nn::functional;
  const double p = ProbeScale::position;
  ProbeLoss loss;
  // presence: one logistic regression per slot
  torch::Tensor presence =
      F::binary_cross_entropy_with_logits(out.presence_logit, batch.slot_present);
  // positions of the objects present: mean squared error per coordinate, in units of p
  torch::Tensor present = batch.slot_present.unsqueeze(2);  // (B, k, 1)
  torch::Tensor position = ((out.slot_pos - batch.slot_pos / p).pow(2) * present).sum() /
                           (present.sum() * 3).clamp_min(1.0);
  // the drawer only where there is a cabinet
  torch::Tensor drawer = ((out.drawer - batch.drawer / p).pow(2) * batch.cabinet).sum() /
                         batch.cabinet.sum().clamp_min(1.0);
  torch::Tensor ee =
      (out.ee_pos - batch.ee_pos / p).pow(2).mean() + (out.ee_rot6 - batch.ee_rot6).pow(2).mean();
  torch::Tensor gripper = (out.gripper - batch.gripper / ProbeScale::finger).pow(2).mean();
  loss.total = presence + position + drawer + ee + gripper;
  // the yaw features of the objects present (zeros for round ones: they have none to predict)
  if (out.slot_yaw.defined()) {
    AVLA_CHECK(batch.has_yaw(), "pretrain-vision",
               "the probe predicts yaw but the corpus has no slot_yaw labels");
    torch::Tensor yaw = ((out.slot_yaw - batch.slot_yaw).pow(2) * present).sum() /
                        (present.sum() * 2).clamp_min(1.0);
    loss.total = loss.total + yaw;
    loss.yaw = yaw.item<double>();
  }
  loss.presence = presence.item<double>();
  loss.position = position.item<double>();
  loss.drawer = drawer.item<double>();
  loss.ee = ee.item<double>();
  loss.gripper = gripper.item<double>();
  return loss;
}

ProbeMetrics evaluate_probe(VisionEncoderImpl& encoder, VisionProbeImpl& probe,
                            const VisionCorpus& frames, const torch::Tensor& mean_pos,
                            int64_t batch) {
  torch::NoGradGuard no_grad;
  const double p = ProbeScale::position;
  ProbeMetrics m;
  m.frames = frames.n_frames();
  double loss_sum = 0, object_sum = 0, mean_sum = 0, n_present = 0, presence_right = 0,
         frames_right = 0, ee_sum = 0, drawer_sum = 0, n_cabinet = 0, gripper_sum = 0;
  // yaw errors, the zero guess's, and counts: over every oriented object, and over those within
  // near_grip_m of the grip (the wrist camera sees them up close)
  double yaw_sum[2] = {0, 0}, zero_sum[2] = {0, 0}, n_oriented[2] = {0, 0};
  // each slot's symmetry order k: the yaw features turn k times as fast as the object
  torch::Tensor order;
  if (probe.yaw) {
    AVLA_CHECK(frames.has_yaw(), "pretrain-vision",
               "the probe predicts yaw but the corpus has no slot_yaw labels");
    order = frames.yaw_order_tensor().clamp_min(1.0);
  }
  for (int64_t begin = 0; begin < m.frames; begin += batch) {
    const int64_t end = std::min(m.frames, begin + batch), n = end - begin;
    const VisionCorpus b = frames.rows(begin, end);
    const ProbeOutput out = probe.forward(encoder.forward(b.images));
    loss_sum += probe_loss(out, b).total.item<double>() * n;
    // (n, k) distances of present slots, m
    torch::Tensor present = b.slot_present;
    object_sum += ((out.slot_pos * p - b.slot_pos).norm(2, 2) * present).sum().item<double>();
    mean_sum += ((mean_pos.unsqueeze(0) - b.slot_pos).norm(2, 2) * present).sum().item<double>();
    n_present += present.sum().item<double>();
    torch::Tensor right = (out.presence_logit > 0).to(torch::kFloat32) == present;  // (n, k)
    presence_right += right.to(torch::kFloat32).sum().item<double>();
    frames_right += right.all(1).to(torch::kFloat32).sum().item<double>();
    ee_sum += (out.ee_pos * p - b.ee_pos).norm(2, 1).sum().item<double>();
    drawer_sum += ((out.drawer * p - b.drawer).abs() * b.cabinet).sum().item<double>();
    n_cabinet += b.cabinet.sum().item<double>();
    gripper_sum += (out.gripper * ProbeScale::finger - b.gripper).abs().sum().item<double>();
    if (probe.yaw) {
      // the angle between estimated and true features over k, on slots that have a yaw
      torch::Tensor oriented = present * (b.slot_yaw.norm(2, 2) > 0.5).to(torch::kFloat32);
      torch::Tensor truth = torch::atan2(b.slot_yaw.select(2, 0), b.slot_yaw.select(2, 1));
      torch::Tensor angle =
          torch::atan2(out.slot_yaw.select(2, 0), out.slot_yaw.select(2, 1)) - truth;
      angle = torch::remainder(angle + M_PI, 2 * M_PI) - M_PI;  // (n, k) in [-pi, pi)
      torch::Tensor near = (b.slot_pos.narrow(2, 0, 2) - b.ee_pos.narrow(1, 0, 2).unsqueeze(1))
                               .norm(2, 2)
                               .lt(ProbeMetrics::near_grip_m)
                               .to(torch::kFloat32);  // (n, k)
      const torch::Tensor masks[2] = {oriented, oriented * near};
      for (int s = 0; s < 2; ++s) {
        yaw_sum[s] += (angle.abs() / order.unsqueeze(0) * masks[s]).sum().item<double>();
        zero_sum[s] += (truth.abs() / order.unsqueeze(0) * masks[s]).sum().item<double>();
        n_oriented[s] += masks[s].sum().item<double>();
      }
    }
  }
  const double n = static_cast<double>(std::max<int64_t>(m.frames, 1));
  m.loss = loss_sum / n;
  m.object_cm = 100.0 * object_sum / std::max(n_present, 1.0);
  m.object_cm_mean = 100.0 * mean_sum / std::max(n_present, 1.0);
  m.presence_accuracy = presence_right / (n * frames.n_slot());
  m.identity_accuracy = frames_right / n;
  m.ee_cm = 100.0 * ee_sum / n;
  m.drawer_cm = 100.0 * drawer_sum / std::max(n_cabinet, 1.0);
  m.gripper_mm = 1000.0 * gripper_sum / n;
  auto degrees = [&](double sum, double count) {
    return probe.yaw ? 180.0 / M_PI * sum / std::max(count, 1.0) : -1.0;
  };
  m.yaw_deg = degrees(yaw_sum[0], n_oriented[0]);
  m.yaw_deg_zero_guess = degrees(zero_sum[0], n_oriented[0]);
  m.yaw_deg_near = degrees(yaw_sum[1], n_oriented[1]);
  m.yaw_deg_near_zero_guess = degrees(zero_sum[1], n_oriented[1]);
  return m;
}

namespace {

nlohmann::json metrics_json(const ProbeMetrics& m) {
  return {{"frames", m.frames},
          {"loss", m.loss},
          {"object_cm", m.object_cm},
          {"object_cm_mean_guess", m.object_cm_mean},
          {"presence_accuracy", m.presence_accuracy},
          {"identity_accuracy", m.identity_accuracy},
          {"ee_cm", m.ee_cm},
          {"drawer_cm", m.drawer_cm},
          {"gripper_mm", m.gripper_mm},
          {"yaw_deg", m.yaw_deg},
          {"yaw_deg_zero_guess", m.yaw_deg_zero_guess},
          {"yaw_deg_near", m.yaw_deg_near},
          {"yaw_deg_near_zero_guess", m.yaw_deg_near_zero_guess}};
}

void log_metrics(int64_t step, const ProbeMetrics& m) {
  log_info(
      "[pretrain-vision] held-out at step {} ({} frames) | object {:.2f} cm (mean guess {:.2f}) | "
      "presence {:.2f} % | identity {:.2f} % | ee {:.2f} cm | drawer {:.2f} cm | gripper {:.2f} mm"
      "{}",
      step, m.frames, m.object_cm, m.object_cm_mean, 100 * m.presence_accuracy,
      100 * m.identity_accuracy, m.ee_cm, m.drawer_cm, m.gripper_mm,
      m.yaw_deg >= 0
          ? fmt::format(" | yaw {:.2f} deg (zero guess {:.2f}; near the grip {:.2f}, "
                        "zero guess {:.2f})",
                        m.yaw_deg, m.yaw_deg_zero_guess, m.yaw_deg_near, m.yaw_deg_near_zero_guess)
          : "");
}

}  // namespace

ProbeMetrics pretrain_vision(const PretrainVisionOptions& options) {
  Config config = options.config;
  const std::string& out = options.out_dir;
  AVLA_CHECK(!out.empty(), "pretrain-vision", "--out is required");
  const bool resume = options.resume && fs::exists(out + "/train_state.safetensors");
  if (resume) {
    // the run's own config wins, except the step budget the user may extend
    Config saved =
        config_from_json(read_json_file(out + "/run.json", "pretrain-vision"), out + "/run.json");
    saved.train.steps = config.train.steps;
    config = saved;
  } else {
    AVLA_CHECK(!fs::exists(out + "/train_state.safetensors"), "pretrain-vision",
               "'{}' already holds a pretraining run; pass --resume or choose another --out", out);
  }
  config.model.validate();
  config.train.validate();
  const TrainConfig& tc = config.train;

  // the corpus: the last holdout frames are the probe's test split
  VisionCorpus all = load_vision_corpus(options.corpus, config.model.image_size);
  // the encoder sees each camera alone; the probe reads the tokens of every camera of a frame
  if (resume) {
    AVLA_CHECK(config.model.n_cam == all.n_cam(), "pretrain-vision",
               "the run in '{}' pretrained on {} camera(s) per frame, the corpus has {}", out,
               config.model.n_cam, all.n_cam());
    AVLA_CHECK(config.model.probe_yaw == all.has_yaw(), "pretrain-vision",
               "the run in '{}' pretrained {} yaw labels, the corpus has {}", out,
               config.model.probe_yaw ? "with" : "without", all.has_yaw() ? "them" : "none");
  }
  config.model.n_cam = all.n_cam();
  // a corpus with yaw labels (format 2) trains the yaw heads too, in the frame asked for
  config.model.probe_yaw = all.has_yaw();
  AVLA_CHECK(options.yaw_frame == "world" || options.yaw_frame == "grip", "pretrain-vision",
             "--yaw-frame must be world or grip, found '{}'", options.yaw_frame);
  AVLA_CHECK(options.yaw_frame == "world" || all.has_yaw(), "pretrain-vision",
             "--yaw-frame grip needs a corpus with yaw labels (format 2)");
  if (resume) {
    std::map<std::string, std::string> meta;
    load_tensor_map(out + "/probe.safetensors", &meta);
    const std::string saved = meta.count("yaw_frame") ? meta.at("yaw_frame") : "world";
    AVLA_CHECK(saved == options.yaw_frame, "pretrain-vision",
               "the run in '{}' pretrained with --yaw-frame {}, this invocation asks for {}", out,
               saved, options.yaw_frame);
  }
  if (options.yaw_frame == "grip") all = all.yaw_in_grip_frame();
  AVLA_CHECK(options.holdout >= 1 && options.holdout < all.n_frames(), "pretrain-vision",
             "--holdout {} must be in [1, {}) (the corpus has {} frames)", options.holdout,
             all.n_frames(), all.n_frames());
  const int64_t n_train = all.n_frames() - options.holdout;
  const VisionCorpus train = all.rows(0, n_train), heldout = all.rows(n_train, all.n_frames());
  all = VisionCorpus{};
  // the baseline's guess: each slot's mean position over the training frames that hold it
  const torch::Tensor mean_pos = train.mean_slot_pos();

  torch::manual_seed(tc.seed);
  VisionEncoder encoder(config.model);
  VisionProbe probe(config.model, train.n_slot());
  ParamGroup group{"vision", {}, 1.0};
  for (const auto& p : encoder->named_parameters(true)) {
    group.params.emplace_back("vision_encoder." + p.key(), p.value());
  }
  for (const auto& p : probe->named_parameters(true)) {
    group.params.emplace_back("probe." + p.key(), p.value());
  }
  AdamW optimizer({group}, tc);
  at::Generator gen = at::detail::createCPUGenerator(tc.seed);
  int64_t step = 0;
  double elapsed_before = 0;
  if (resume) {
    TrainState state = load_train_state(out);
    const std::string path = out + "/train_state.safetensors";
    // weights under "weights.<module>.", the optimizer's moments under "adamw."
    load_state_strict(*encoder, state.tensors, path, "weights.vision_encoder.");
    load_state_strict(*probe, state.tensors, path, "weights.probe.");
    optimizer.load_state(state.tensors, path);
    gen.set_state(state.rng_state);
    step = state.step;
    elapsed_before = state.elapsed_s;
    log_info("[pretrain-vision] resuming {} at step {} ({:.0f} s trained)", out, step,
             elapsed_before);
  }
  int64_t n_encoder = 0, n_probe = 0;
  for (const auto& p : encoder->parameters()) n_encoder += p.numel();
  for (const auto& p : probe->parameters()) n_probe += p.numel();
  log_info("[pretrain-vision] config {}", to_json(config).dump());
  log_info(
      "[pretrain-vision] encoder {} parameters, probe {}; {} training frames, {} held out, {} "
      "label slots, threads {}",
      n_encoder, n_probe, n_train, options.holdout, train.n_slot(), torch::get_num_threads());

  fs::create_directories(out);
  remove_stale_temps(out);
  if (!resume) write_file_atomic(out + "/run.json", to_json(config).dump(2) + "\n");
  Timer total_timer;
  auto elapsed_s = [&] { return elapsed_before + total_timer.elapsed_ms() / 1000.0; };
  auto save = [&](int64_t at) {
    TrainState state{optimizer.state(), gen.get_state(), at, elapsed_s(), 1};
    for (auto& [name, t] : module_state(*encoder))
      state.tensors["weights.vision_encoder." + name] = t;
    for (auto& [name, t] : module_state(*probe)) state.tensors["weights.probe." + name] = t;
    save_train_state(out, state);
    save_pretrained_vision(out, config.model, *encoder);
    TensorMap probe_tensors;
    for (auto& [name, t] : module_state(*probe)) probe_tensors["probe." + name] = t;
    save_tensor_map(
        out + "/probe.safetensors", probe_tensors,
        {{"slots", nlohmann::json(train.slots).dump()}, {"yaw_frame", options.yaw_frame}});
  };
  std::ofstream metrics(out + "/metrics.jsonl", resume ? std::ios::app : std::ios::trunc);
  AVLA_CHECK(metrics.good(), "pretrain-vision", "cannot write '{}/metrics.jsonl'", out);

  auto time_progress = [&] {
    return options.time_limit_s > 0 ? elapsed_s() / options.time_limit_s : 0.0;
  };
  ProgressBar bar("pretrain-vision", tc.steps);
  Timer interval_timer;
  double interval[7] = {0, 0, 0, 0, 0, 0, 0};
  int interval_steps = 0;
  const int64_t start_step = step;
  ProbeMetrics last;
  bool evaluated_last = false;
  while (step < tc.steps && time_progress() < 1.0) {
    encoder->train();
    probe->train();
    const double lr = learning_rate_at(step, tc, time_progress());
    const VisionCorpus batch = train.index(torch::randint(n_train, {tc.batch}, gen, torch::kInt64));
    torch::Tensor images = random_shift(batch.images, tc.aug_shift, gen);
    ProbeLoss loss;
    {
      Bf16Autocast autocast(tc.bf16);
      loss = probe_loss(probe->forward(encoder->forward(images)), batch);
    }
    const double value = loss.total.item<double>();
    AVLA_CHECK(std::isfinite(value), "pretrain-vision", "loss is {} at step {}", value, step + 1);
    optimizer.zero_grad();
    loss.total.backward();
    const double grad_norm = optimizer.clip_grad_norm(tc.grad_clip);
    optimizer.step(lr);
    ++step;
    const double terms[7] = {value,   loss.presence, loss.position, loss.drawer,
                             loss.ee, loss.gripper,  loss.yaw};
    for (int i = 0; i < 7; ++i) interval[i] += terms[i];
    ++interval_steps;
    bar.update(step, fmt::format("loss {:.4f}", value));

    const bool last_step = step == tc.steps || time_progress() >= 1.0;
    const bool stop = options.stop_after > 0 && step - start_step >= options.stop_after;
    if (step % tc.log_every == 0 || last_step || stop) {
      const double ms = interval_timer.elapsed_ms() / interval_steps;
      for (double& v : interval) v /= interval_steps;
      log_info(
          "step {}/{} | loss {:.4f} (presence {:.4f} position {:.4f} drawer {:.4f} ee {:.4f} "
          "gripper {:.4f} yaw {:.4f}) | lr {:.1e} | grad {:.2f} | {:.0f} ms | {:.0f} samples/s",
          step, tc.steps, interval[0], interval[1], interval[2], interval[3], interval[4],
          interval[5], interval[6], lr, grad_norm, ms, tc.batch * 1000.0 / ms);
      metrics << nlohmann::json{{"step", step},
                                {"loss", interval[0]},
                                {"loss_presence", interval[1]},
                                {"loss_position", interval[2]},
                                {"loss_drawer", interval[3]},
                                {"loss_ee", interval[4]},
                                {"loss_gripper", interval[5]},
                                {"loss_yaw", interval[6]},
                                {"lr", lr},
                                {"ms_per_step", ms},
                                {"elapsed_s", elapsed_s()}}
                     .dump()
              << "\n";
      metrics.flush();
      std::fill(std::begin(interval), std::end(interval), 0.0);
      interval_steps = 0;
      interval_timer.reset();
    }
    evaluated_last = false;
    if (step % options.eval_every == 0 || last_step || stop) {
      encoder->eval();
      probe->eval();
      last = evaluate_probe(*encoder, *probe, heldout, mean_pos);
      evaluated_last = true;
      log_metrics(step, last);
      nlohmann::json line = metrics_json(last);
      line["step"] = step;
      line["split"] = "heldout";
      metrics << line.dump() << "\n";
      metrics.flush();
    }
    if (step % tc.save_every == 0 || last_step || stop) save(step);
    if (stop) {
      log_info("[pretrain-vision] stopping after step {} (--stop-after); resume with --resume",
               step);
      break;
    }
  }
  bar.finish();
  if (!evaluated_last) {
    last = evaluate_probe(*encoder, *probe, heldout, mean_pos);
    log_metrics(step, last);
  }
  nlohmann::json summary = metrics_json(last);
  summary["step"] = step;
  summary["train_frames"] = n_train;
  summary["elapsed_s"] = elapsed_s();
  summary["slots"] = train.slots;
  summary["yaw"] = config.model.probe_yaw;
  summary["yaw_frame"] = options.yaw_frame;
  summary["corpus"] = options.corpus;
  write_file_atomic(out + "/probe.json", summary.dump(2) + "\n");
  log_info("[pretrain-vision] encoder in {} after {} steps ({:.0f} s of training)", out, step,
           elapsed_s());
  return last;
}

}  // namespace avla
