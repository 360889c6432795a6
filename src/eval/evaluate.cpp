#include "eval/evaluate.h"

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "eval/rollout_frame.h"
#include "eval/statistics.h"
#include "eval/video_writer.h"
#include "sim/collect.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

namespace {

Observation policy_observation(const sim::SimObservation& o, const std::string& instruction) {
  const int64_t s = o.image_size;
  auto image = [&](const std::vector<uint8_t>& rgb) {
    return torch::from_blob(const_cast<uint8_t*>(rgb.data()), {s, s, 3}, torch::kUInt8).clone();
  };
  Observation obs;
  obs.images = {image(o.agentview_rgb), image(o.eye_in_hand_rgb)};
  // the model's state: ee position, ee axis-angle, finger openings (docs/FORMATS.md)
  obs.state = torch::tensor({o.ee_pos[0], o.ee_pos[1], o.ee_pos[2], o.ee_ori[0], o.ee_ori[1],
                             o.ee_ori[2], o.gripper_states[0], o.gripper_states[1]},
                            torch::kFloat32);
  obs.instruction = instruction;
  return obs;
}

TaskResult make_result(const std::string& name, const std::string& instruction, int successes,
                       int episodes) {
  TaskResult r{name, instruction, successes, episodes, 0, 0, 1};
  if (episodes > 0) r.rate = static_cast<double>(successes) / episodes;
  std::tie(r.lo, r.hi) = wilson_interval(successes, episodes);
  return r;
}

}  // namespace

EvalReport evaluate(const EvalOptions& o) {
  AVLA_CHECK(o.episodes >= 1, "eval", "--episodes must be >= 1, got {}", o.episodes);
  Policy policy(o.ckpt);
  const int L = policy.config().model.chunk_len;
  const int replan = o.replan > 0 ? o.replan : std::max(1, L / 2);
  AVLA_CHECK(replan <= L, "eval", "--replan {} outside [1, chunk_len {}]", replan, L);
  ActOptions act_options;
  act_options.mode = o.mode;
  act_options.threshold = o.threshold;
  act_options.n_steps = o.flow_steps;
  policy.check_options(act_options);  // before any episode runs
  const std::vector<const sim::Task*> tasks = sim::select_tasks(o.suite, o.tasks);
  if (!o.video_dir.empty()) std::filesystem::create_directories(o.video_dir);

  sim::EnvConfig config;
  config.image_size = o.resolution;
  sim::Env env(config);
  EvalReport report;
  report.suite = o.suite;
  report.mode = act_mode_name(o.mode);
  report.threshold = o.threshold;
  report.replan = replan;
  ProgressBar bar("eval " + report.mode, static_cast<int64_t>(tasks.size()) * o.episodes);
  Timer timer;
  int done = 0, total_successes = 0;
  for (const sim::Task* task : tasks) {
    int successes = 0;
    const int max_steps =
        o.max_steps > 0 ? std::min(o.max_steps, task->max_steps) : task->max_steps;
    for (int k = 0; k < o.episodes; ++k) {
      EpisodeRecord rec;
      rec.task = task->name;
      rec.seed = sim::eval_seed_offset + o.seed + static_cast<uint64_t>(k);
      std::unique_ptr<VideoWriter> video;
      if (!o.video_dir.empty() && k < o.videos_per_task) {
        rec.video = (std::filesystem::path(o.video_dir) /
                     fmt::format("{}_{}_ep{}.mp4", task->name, report.mode, k))
                        .string();
        video = std::make_unique<VideoWriter>(rec.video, 2 * o.resolution,
                                              o.resolution + overlay_height, 20);
      }
      sim::SimObservation obs = env.reset(*task, rec.seed);
      double confidence_sum = 0;
      int confidence_count = 0;
      bool finished = false;
      while (!finished && rec.steps < max_steps) {
        ActOptions act = act_options;
        act.seed = rec.seed * 1000 + static_cast<uint64_t>(rec.chunks);
        const ActResult r = policy.act(policy_observation(obs, task->instruction), act);
        ++rec.chunks;
        rec.policy_ms += r.timings.total_ms;
        ChunkOverlay overlay;
        for (int l = 0; l < L; ++l) overlay.regenerated.push_back(r.mask[l].item<bool>());
        rec.regenerated += static_cast<int>(r.mask.sum().item<int64_t>());
        if (r.confidence.defined()) {
          for (int l = 0; l < L; ++l) overlay.confidence.push_back(r.confidence[l].item<float>());
          confidence_sum += r.confidence.sum().item<double>();
          confidence_count += L;
        }
        const torch::Tensor actions = r.actions.to(torch::kFloat64).contiguous();
        for (int l = 0; l < replan && rec.steps < max_steps; ++l) {
          if (video) {
            overlay.executing = l;
            video->add_frame(rollout_frame(obs, overlay).data());
          }
          const double* a = actions[l].data_ptr<double>();
          sim::StepResult step = env.step(std::vector<double>(a, a + actions.size(1)));
          ++rec.steps;
          obs = std::move(step.observation);
          if (step.success) {
            rec.success = true;
            finished = true;
            break;
          }
        }
      }
      if (video) {
        video->add_frame(rollout_frame(obs, ChunkOverlay{}).data());
        video->finish();
      }
      rec.policy_ms /= std::max(1, rec.chunks);
      if (confidence_count > 0) rec.confidence = confidence_sum / confidence_count;
      successes += rec.success;
      report.episodes.push_back(rec);
      bar.update(++done, fmt::format("{} {}/{}", task->name, successes, k + 1));
    }
    total_successes += successes;
    report.tasks.push_back(make_result(task->name, task->instruction, successes, o.episodes));
    const TaskResult& t = report.tasks.back();
    log_info("[eval {}] {}: {}/{} = {:.0f}% (95% CI {:.0f}-{:.0f}%) | {:.0f} s", report.mode,
             task->name, successes, o.episodes, 100 * t.rate, 100 * t.lo, 100 * t.hi,
             timer.elapsed_ms() / 1000.0);
  }
  bar.finish();
  report.total =
      make_result("average", "", total_successes, static_cast<int>(report.episodes.size()));
  report.seconds = timer.elapsed_ms() / 1000.0;
  return report;
}

nlohmann::json to_json(const EvalReport& r) {
  nlohmann::json tasks = nlohmann::json::array(), episodes = nlohmann::json::array();
  for (const auto& t : r.tasks) {
    tasks.push_back({{"task", t.name},
                     {"instruction", t.instruction},
                     {"successes", t.successes},
                     {"episodes", t.episodes},
                     {"success_rate", t.rate},
                     {"wilson_low", t.lo},
                     {"wilson_high", t.hi}});
  }
  for (const auto& e : r.episodes) {
    episodes.push_back({{"task", e.task},
                        {"seed", e.seed},
                        {"success", e.success},
                        {"steps", e.steps},
                        {"chunks", e.chunks},
                        {"regenerated_tokens", e.regenerated},
                        {"mean_confidence", e.confidence},
                        {"policy_ms_per_chunk", e.policy_ms},
                        {"video", e.video}});
  }
  return {{"suite", r.suite},
          {"mode", r.mode},
          {"threshold", r.threshold},
          {"replan", r.replan},
          {"tasks", tasks},
          {"average",
           {{"successes", r.total.successes},
            {"episodes", r.total.episodes},
            {"success_rate", r.total.rate},
            {"wilson_low", r.total.lo},
            {"wilson_high", r.total.hi}}},
          {"episodes", episodes},
          {"seconds", r.seconds}};
}

std::string format_table(const EvalReport& r) {
  std::string out =
      fmt::format("suite {} | mode {}{} | replan {}\n", r.suite, r.mode,
                  r.mode == "async" ? fmt::format(" (threshold {})", r.threshold) : "", r.replan);
  out += fmt::format("{:<45} {:>9} {:>8} {:>15}\n", "task", "success", "rate", "95% Wilson CI");
  auto row = [&](const TaskResult& t) {
    out += fmt::format("{:<45} {:>4}/{:<4} {:>7.1f}% {:>6.1f}-{:<6.1f}%\n", t.name, t.successes,
                       t.episodes, 100 * t.rate, 100 * t.lo, 100 * t.hi);
  };
  for (const auto& t : r.tasks) row(t);
  row(r.total);
  return out;
}

}  // namespace avla
