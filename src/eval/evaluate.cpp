#include "eval/evaluate.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "eval/chunk_source.h"
#include "eval/rollout_frame.h"
#include "eval/statistics.h"
#include "eval/video_writer.h"
#include "sim/collect.h"
#include "sim/env.h"
#include "sim/variants.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

namespace {

TaskResult make_result(const std::string& name, const std::string& instruction, int successes,
                       int episodes) {
  TaskResult r{name, instruction, successes, episodes, 0, 0, 1};
  if (episodes > 0) r.rate = static_cast<double>(successes) / episodes;
  std::tie(r.lo, r.hi) = wilson_interval(successes, episodes);
  return r;
}

}  // namespace

Observation policy_observation(const sim::SimObservation& o, const std::string& instruction,
                               int n_cam, bool privileged) {
  const int sim_cams = o.eye_in_hand_rgb.empty() ? 1 : 2;
  AVLA_CHECK(n_cam >= 0 && n_cam <= sim_cams, "eval",
             "the task's robot has {} camera(s) ({}); the checkpoint wants {}", sim_cams,
             sim_cams == 2 ? "agentview, wrist" : "agentview", n_cam);
  const int64_t s = o.image_size;
  auto image = [&](const std::vector<uint8_t>& rgb) {
    AVLA_CHECK(rgb.size() == static_cast<size_t>(s * s * 3), "eval",
               "a camera image has {} bytes, expected {}x{}x3 (was the scene rendered?)",
               rgb.size(), s, s);
    return torch::from_blob(const_cast<uint8_t*>(rgb.data()), {s, s, 3}, torch::kUInt8).clone();
  };
  // a state-only checkpoint (n_cam 0) reads no camera
  Observation obs;
  if (n_cam >= 1) obs.images.push_back(image(o.agentview_rgb));
  if (n_cam == 2) obs.images.push_back(image(o.eye_in_hand_rgb));
  // the model's state: ee position, ee axis-angle, finger openings (docs/FORMATS.md)
  std::vector<double> state = {o.ee_pos[0], o.ee_pos[1], o.ee_pos[2],         o.ee_ori[0],
                               o.ee_ori[1], o.ee_ori[2], o.gripper_states[0], o.gripper_states[1]};
  // a privileged-state checkpoint also gets the object positions (data/object_state.h)
  if (privileged) state.insert(state.end(), o.object_states.begin(), o.object_states.end());
  obs.state = torch::tensor(state, torch::kFloat32);
  obs.instruction = instruction;
  return obs;
}

namespace {

// what every episode of an evaluation shares
struct EpisodeSettings {
  int replan = 0, max_steps = 0, resolution = 0;
  std::string mode, video_dir;
  int videos_per_task = 0;
  uint64_t first_seed = 0;  // episode k of a task runs on layout seed first_seed + k
};

// one episode of a lockstep group
struct Slot {
  EpisodeRecord rec;
  sim::SimObservation obs;
  std::unique_ptr<VideoWriter> video;
  double confidence_sum = 0;
  int confidence_count = 0;
  bool finished = false;
};

// executes up to `replan` actions of one chunk in slot's environment (with its video frames)
void execute_chunk(Slot& s, sim::Env& env, const ActResult& r, const EpisodeSettings& e) {
  ++s.rec.chunks;
  const int rows = static_cast<int>(r.actions.size(0));
  ChunkOverlay overlay;
  for (int l = 0; l < rows; ++l) overlay.regenerated.push_back(r.mask[l].item<bool>());
  s.rec.regenerated += static_cast<int>(r.mask.sum().item<int64_t>());
  if (r.confidence.defined()) {
    for (int l = 0; l < rows; ++l) overlay.confidence.push_back(r.confidence[l].item<float>());
    s.confidence_sum += r.confidence.sum().item<double>();
    s.confidence_count += rows;
  }
  const torch::Tensor actions = r.actions.to(torch::kFloat64).contiguous();
  for (int l = 0; l < std::min(e.replan, rows) && s.rec.steps < e.max_steps; ++l) {
    if (s.video) {
      overlay.executing = l;
      s.video->add_frame(rollout_frame(s.obs, overlay).data());
    }
    const double* a = actions[l].data_ptr<double>();
    for (int64_t d = 0; d < actions.size(1); ++d) s.rec.action_sum += a[d];
    sim::StepResult step = env.step(std::vector<double>(a, a + actions.size(1)));
    ++s.rec.steps;
    s.obs = std::move(step.observation);
    if (step.success) {
      s.rec.success = true;
      s.finished = true;
      return;
    }
  }
}

// episodes first .. first + n - 1 of a task in lockstep, one environment each: one chunk call for
// every episode still running per replanning point. a row's chunk depends only on its own
// observation and seed (up to the rounding of batched matmuls), as in one-at-a-time evaluation.
std::vector<EpisodeRecord> run_lockstep_group(ChunkSource& source, const sim::Task& task,
                                              std::vector<std::unique_ptr<sim::Env>>& envs,
                                              int first, int n, const EpisodeSettings& e) {
  std::vector<Slot> slots(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Slot& s = slots[static_cast<size_t>(i)];
    const int k = first + i;
    s.rec.task = task.name;
    s.rec.goals = static_cast<int>(task.goals.size());
    s.rec.seed = e.first_seed + static_cast<uint64_t>(k);
    if (!e.video_dir.empty() && k < e.videos_per_task) {
      s.rec.video =
          (std::filesystem::path(e.video_dir) / fmt::format("{}_{}_ep{}.mp4", task.name, e.mode, k))
              .string();
      s.video = std::make_unique<VideoWriter>(s.rec.video, 2 * e.resolution,
                                              e.resolution + overlay_height, 20);
    }
    sim::Env& env = *envs[static_cast<size_t>(i)];
    s.obs = env.reset(task, s.rec.seed);
    source.start_episode(i, task, env, s.rec.seed);
  }
  while (true) {
    std::vector<ChunkRow> rows;
    for (int i = 0; i < n; ++i) {
      Slot& s = slots[static_cast<size_t>(i)];
      if (s.finished || s.rec.steps >= e.max_steps) continue;
      rows.push_back({i, &s.obs, envs[static_cast<size_t>(i)].get(),
                      s.rec.seed * 1000 + static_cast<uint64_t>(s.rec.chunks)});
    }
    if (rows.empty()) break;
    const std::vector<ActResult> results = source.act(rows, task.instruction);
    AVLA_CHECK(results.size() == rows.size(), "eval", "{} chunks for {} episodes", results.size(),
               rows.size());
    for (size_t j = 0; j < rows.size(); ++j) {
      Slot& s = slots[static_cast<size_t>(rows[j].slot)];
      s.rec.policy_ms += results[j].timings.total_ms / static_cast<double>(rows.size());
      execute_chunk(s, *rows[j].env, results[j], e);
    }
  }
  // the finished episodes' records
  std::vector<EpisodeRecord> records;
  for (int i = 0; i < n; ++i) {
    Slot& s = slots[static_cast<size_t>(i)];
    const sim::Env& env = *envs[static_cast<size_t>(i)];
    s.rec.goals_reached = env.goals_reached();
    s.rec.wrong_placements = env.wrong_placements();
    const int place_goals = env.place_goals();
    s.rec.grasped = place_goals > 0 && env.objects_grasped() == place_goals;
    // metres to cm; -1 (none) stays -1, NaN (none) stays NaN
    const auto cm = [](double m) { return m == -1.0 ? -1.0 : 100.0 * m; };
    for (double offset : env.target_offsets()) s.rec.target_offset_cm.push_back(cm(offset));
    s.rec.grasp_yaw_error_deg = env.grasp_yaw_errors();
    const std::vector<double> tilts = env.target_tilts();
    for (size_t g = 0; g < tilts.size(); ++g) {
      const sim::PlacementTrace& t = env.placements()[g];
      s.rec.placements.push_back({cm(t.release_offset), cm(t.release_gap), cm(t.release_carried),
                                  cm(t.upset_offset), cm(t.upset_gap), t.upset_held, tilts[g]});
    }
    if (s.video) {
      s.video->add_frame(rollout_frame(s.obs, ChunkOverlay{}).data());
      s.video->finish();
    }
    s.rec.policy_ms /= std::max(1, s.rec.chunks);
    if (s.confidence_count > 0) s.rec.confidence = s.confidence_sum / s.confidence_count;
    records.push_back(s.rec);
  }
  return records;
}

}  // namespace

EvalReport evaluate(const EvalOptions& o) {
  AVLA_CHECK(o.episodes >= 1, "eval", "--episodes must be >= 1, got {}", o.episodes);
  const std::unique_ptr<ChunkSource> source = make_chunk_source(o);
  const int L = source->chunk_len;
  EpisodeSettings e;
  // half the chunk; openpi's libero example executes 5 when a server does not state its L
  e.replan = o.replan ? *o.replan : (L > 0 ? std::max(1, L / 2) : 5);
  AVLA_CHECK(e.replan >= 1 && (L == 0 || e.replan <= L), "eval",
             "--replan {} outside [1, chunk_len {}]", e.replan, L);
  e.resolution = o.resolution ? *o.resolution : source->image_size;
  AVLA_CHECK(e.resolution >= 1, "eval", "--resolution {}, expected at least 1", e.resolution);
  e.mode = source->mode;
  e.video_dir = o.video_dir;
  e.videos_per_task = o.videos_per_task;
  e.first_seed = (o.demo_seeds ? 0 : sim::eval_seed_offset) + o.seed;
  const std::vector<const sim::Task*> tasks = sim::select_tasks(o.suite, o.tasks);
  if (!o.video_dir.empty()) std::filesystem::create_directories(o.video_dir);

  // episodes run in lockstep groups of `parallel` environments
  sim::EnvConfig config;
  config.image_size = e.resolution;
  config.render = source->reads_images || !o.video_dir.empty();
  config.variant = o.variant;
  const int parallel = std::max(1, std::min(o.parallel, o.episodes));
  std::vector<std::unique_ptr<sim::Env>> envs;
  for (int i = 0; i < parallel; ++i) envs.push_back(std::make_unique<sim::Env>(config));
  EvalReport report;
  report.suite = o.suite;
  report.mode = source->mode;
  report.threshold = source->threshold;
  report.mask_window = source->mask_window;
  report.replan = e.replan;
  report.noise_scale = o.act.noise_scale;
  report.precision = source->precision;
  report.variant = sim::find_variant(o.variant).name;
  ProgressBar bar("eval " + report.mode, static_cast<int64_t>(tasks.size()) * o.episodes);
  Timer timer;
  int done = 0, total_successes = 0;
  for (const sim::Task* task : tasks) {
    int successes = 0, task_done = 0, partial = 0, misplaced = 0, grasped = 0;
    report.grasp_success = report.grasp_success || task->release_required;
    e.max_steps = o.max_steps ? std::min(*o.max_steps, task->max_steps) : task->max_steps;
    for (int first = 0; first < o.episodes; first += parallel) {
      const int n = std::min(parallel, o.episodes - first);
      for (const EpisodeRecord& rec : run_lockstep_group(*source, *task, envs, first, n, e)) {
        successes += rec.success;
        partial += !rec.success && rec.goals_reached > 0;
        misplaced += !rec.success && rec.wrong_placements > 0;
        grasped += rec.grasped;
        report.episodes.push_back(rec);
        bar.update(++done, fmt::format("{} {}/{}", task->name, successes, ++task_done));
      }
    }
    total_successes += successes;
    report.tasks.push_back(make_result(task->name, task->instruction, successes, o.episodes));
    TaskResult& t = report.tasks.back();
    t.partial = partial;
    t.misplaced = misplaced;
    t.grasped = grasped;
    log_info(
        "[eval {}] {}: {}/{} = {:.0f}% (95% CI {:.0f}-{:.0f}%){}{} | {} failed with a wrong "
        "placement | {:.0f} s",
        report.mode, task->name, successes, o.episodes, 100 * t.rate, 100 * t.lo, 100 * t.hi,
        task->release_required ? fmt::format(" | grasp {}/{}", grasped, o.episodes) : "",
        task->goals.size() > 1 ? fmt::format(" | {} failed with a goal reached", partial) : "",
        misplaced, timer.elapsed_ms() / 1000.0);
  }
  bar.finish();
  report.total =
      make_result("average", "", total_successes, static_cast<int>(report.episodes.size()));
  for (const TaskResult& t : report.tasks) {
    report.total.partial += t.partial;
    report.total.misplaced += t.misplaced;
    report.total.grasped += t.grasped;
  }
  report.seconds = timer.elapsed_ms() / 1000.0;
  return report;
}

namespace {

// one object per goal; NaN lengths (none) become null
nlohmann::json placements_json(const std::vector<PlacementRecord>& placements) {
  nlohmann::json out = nlohmann::json::array();
  for (const PlacementRecord& p : placements) {
    out.push_back({{"release_offset_cm", p.release_offset_cm},
                   {"release_gap_cm", p.release_gap_cm},
                   {"release_carried_cm", p.release_carried_cm},
                   {"upset_offset_cm", p.upset_offset_cm},
                   {"upset_gap_cm", p.upset_gap_cm},
                   {"upset_held", p.upset_held},
                   {"target_tilt_deg", p.target_tilt_deg}});
  }
  return out;
}

}  // namespace

nlohmann::json to_json(const EvalReport& r) {
  nlohmann::json tasks = nlohmann::json::array(), episodes = nlohmann::json::array();
  for (const auto& t : r.tasks) {
    tasks.push_back({{"task", t.name},
                     {"instruction", t.instruction},
                     {"successes", t.successes},
                     {"episodes", t.episodes},
                     {"success_rate", t.rate},
                     {"wilson_low", t.lo},
                     {"wilson_high", t.hi},
                     {"partial", t.partial},
                     {"misplaced", t.misplaced},
                     {"grasp_successes", t.grasped}});
  }
  for (const auto& e : r.episodes) {
    episodes.push_back({{"task", e.task},
                        {"seed", e.seed},
                        {"success", e.success},
                        {"steps", e.steps},
                        {"goals", e.goals},
                        {"goals_reached", e.goals_reached},
                        {"wrong_placements", e.wrong_placements},
                        {"grasped", e.grasped},
                        {"target_offset_cm", e.target_offset_cm},
                        {"grasp_yaw_error_deg", e.grasp_yaw_error_deg},
                        {"placements", placements_json(e.placements)},
                        {"chunks", e.chunks},
                        {"regenerated_tokens", e.regenerated},
                        {"mean_confidence", e.confidence},
                        {"policy_ms_per_chunk", e.policy_ms},
                        {"executed_action_sum", e.action_sum},
                        {"video", e.video}});
  }
  return {{"suite", r.suite},
          {"mode", r.mode},
          {"threshold", r.threshold},
          {"mask_window", r.mask_window ? nlohmann::json(*r.mask_window) : nlohmann::json()},
          {"replan", r.replan},
          {"noise_scale", r.noise_scale},
          {"precision", r.precision.empty() ? nlohmann::json() : nlohmann::json(r.precision)},
          {"variant", r.variant},
          {"tasks", tasks},
          {"average",
           {{"successes", r.total.successes},
            {"grasp_successes", r.total.grasped},
            {"episodes", r.total.episodes},
            {"success_rate", r.total.rate},
            {"wilson_low", r.total.lo},
            {"wilson_high", r.total.hi}}},
          {"episodes", episodes},
          {"seconds", r.seconds}};
}

std::string format_table(const EvalReport& r) {
  std::string out = fmt::format(
      "suite {} | mode {}{} | replan {}{}\n", r.suite, r.mode,
      r.mode == "async" ? fmt::format(" (threshold {})", r.threshold) : "", r.replan,
      r.variant.empty() || r.variant == "none" ? "" : fmt::format(" | variant {}", r.variant));
  // multi-goal suites (long) also say how many failed episodes got part of the way
  const bool multi_goal = std::any_of(r.episodes.begin(), r.episodes.end(),
                                      [](const EpisodeRecord& e) { return e.goals > 1; });
  // and every suite how many failed episodes put an object where no goal asks
  // simplerenv-scored suites (bridge) put grasp success beside success
  out += fmt::format("{:<45} {:>9} {:>8} {:>15}{}{}  failed, misplaced\n", "task", "success",
                     "rate", "95% Wilson CI", r.grasp_success ? "      grasp" : "",
                     multi_goal ? "  failed, a goal reached" : "");
  auto row = [&](const TaskResult& t) {
    out += fmt::format("{:<45} {:>4}/{:<4} {:>7.1f}% {:>6.1f}-{:<6.1f}%{}{}  {:>17}\n", t.name,
                       t.successes, t.episodes, 100 * t.rate, 100 * t.lo, 100 * t.hi,
                       r.grasp_success ? fmt::format("  {:>4}/{:<4}", t.grasped, t.episodes) : "",
                       multi_goal ? fmt::format("  {:>23}", t.partial) : "", t.misplaced);
  };
  for (const auto& t : r.tasks) row(t);
  row(r.total);
  return out;
}

VariantAggregate evaluate_variants(EvalOptions options) {
  VariantAggregate a;
  double rate_sum = 0;
  for (const sim::VisualVariant& v : sim::visual_variants()) {
    options.variant = v.name;
    log_info("[eval] variant {}: {}", v.name, v.what);
    a.reports.push_back(evaluate(options));
    const EvalReport& r = a.reports.back();
    rate_sum += r.total.rate;
    a.successes += r.total.successes;
    a.episodes += r.total.episodes;
  }
  a.mean_rate = rate_sum / static_cast<double>(a.reports.size());
  return a;
}

nlohmann::json to_json(const VariantAggregate& a) {
  nlohmann::json reports = nlohmann::json::array();
  for (const EvalReport& r : a.reports) reports.push_back(to_json(r));
  return {
      {"suite", a.reports.front().suite},
      {"mode", a.reports.front().mode},
      {"variant_aggregation",
       {{"mean_success_rate", a.mean_rate}, {"successes", a.successes}, {"episodes", a.episodes}}},
      {"variants", reports}};
}

std::string format_table(const VariantAggregate& a) {
  const EvalReport& first = a.reports.front();
  std::string out =
      fmt::format("suite {} | mode {} | variant aggregation\n", first.suite, first.mode);
  out += fmt::format("{:<20} {:>9} {:>8} {:>15}{}\n", "variant", "success", "rate", "95% Wilson CI",
                     first.grasp_success ? "      grasp" : "");
  for (const EvalReport& r : a.reports) {
    const TaskResult& t = r.total;
    out +=
        fmt::format("{:<20} {:>4}/{:<4} {:>7.1f}% {:>6.1f}-{:<6.1f}%{}\n", r.variant, t.successes,
                    t.episodes, 100 * t.rate, 100 * t.lo, 100 * t.hi,
                    first.grasp_success ? fmt::format("  {:>4}/{:<4}", t.grasped, t.episodes) : "");
  }
  out += fmt::format("{:<20} {:>4}/{:<4} {:>7.1f}%  (mean of the variants' rates)\n", "aggregate",
                     a.successes, a.episodes, 100 * a.mean_rate);
  return out;
}

}  // namespace avla
