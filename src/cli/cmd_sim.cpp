// asyncvla sim collect | corpus | render | experts: the MuJoCo tabletop benchmark from the command
// line.
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "eval/rollout_frame.h"
#include "eval/video_writer.h"
#include "io/png_file.h"
#include "sim/collect.h"
#include "sim/corpus.h"
#include "sim/goals.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

namespace {

struct RenderOptions {
  std::string suite = "spatial";
  std::string task;
  uint64_t seed = 0;
  std::string out;
  int resolution = 256;
  int frames = 1;        // png: > 1 tiles that many evenly spaced frames of the expert rollout
  double regrasp = 0.0;  // sim::DemoVariation::regrasp
  std::string variant;   // sim::EnvConfig::variant
};

int run_render(const RenderOptions& o) {
  const std::string ext = std::filesystem::path(o.out).extension().string();
  AVLA_CHECK(ext == ".png" || ext == ".mp4", "sim render", "--out '{}' must end in .png or .mp4",
             o.out);
  const sim::Task& task =
      o.task.empty() ? sim::suite_tasks(o.suite).front() : sim::find_task(o.suite, o.task);
  sim::EnvConfig config;
  config.image_size = o.resolution;
  config.variant = o.variant;
  sim::Env env(config);
  if (ext == ".png" && o.frames <= 1) {
    const auto obs = env.reset(task, o.seed);
    write_png(o.out, side_by_side(obs).data(), 2 * obs.image_size, obs.image_size);
    log_info("[sim render] {}/{} seed {}: '{}' -> {}", task.suite, task.name, o.seed,
             task.instruction, o.out);
    return 0;
  }
  if (ext == ".png") {
    // a contact sheet: evenly spaced frames of the expert rollout, one row each
    std::vector<std::vector<uint8_t>> all = {side_by_side(env.reset(task, o.seed))};
    const auto episode = sim::run_expert(
        env, task, o.seed, false, {0.0, o.regrasp},
        [&](const sim::StepResult& r) { all.push_back(side_by_side(r.observation)); });
    const size_t row_bytes = all[0].size();
    std::vector<uint8_t> sheet;
    for (int k = 0; k < o.frames; ++k) {
      const size_t index = (all.size() - 1) * k / std::max(1, o.frames - 1);
      sheet.insert(sheet.end(), all[index].begin(), all[index].begin() + row_bytes);
    }
    write_png(o.out, sheet.data(), 2 * o.resolution, o.resolution * o.frames);
    log_info("[sim render] {}/{} seed {}: expert {} after {} steps, {} frames -> {}", task.suite,
             task.name, o.seed, episode.success ? "succeeded" : "failed", episode.steps, o.frames,
             o.out);
    return 0;
  }
  VideoWriter video(o.out, 2 * o.resolution, o.resolution, 20);
  const auto first = env.reset(task, o.seed);
  video.add_frame(side_by_side(first).data());
  const auto episode = sim::run_expert(
      env, task, o.seed, false, {0.0, o.regrasp},
      [&](const sim::StepResult& r) { video.add_frame(side_by_side(r.observation).data()); });
  video.finish();
  log_info("[sim render] {}/{} seed {}: expert {} after {} steps, {} frames -> {}", task.suite,
           task.name, o.seed, episode.success ? "succeeded" : "failed", episode.steps,
           video.frames(), o.out);
  return 0;
}

struct ExpertsOptions {
  std::string suite = "spatial";
  std::vector<std::string> tasks;
  int seeds = 20;
  uint64_t seed = 0;
  bool markdown = false;
  double regrasp = 0.0;  // sim::DemoVariation::regrasp
  std::string variant;   // sim::EnvConfig::variant
};

// runs each task's expert on seeds [seed, seed + seeds) without rendering; prints a table
int run_experts(const ExpertsOptions& o) {
  const auto tasks = sim::select_tasks(o.suite, o.tasks);
  sim::EnvConfig config;
  config.render = false;
  config.variant = o.variant;
  sim::Env env(config);
  int worst = 100;
  if (o.markdown) {
    fmt::print("| suite | task | instruction | success rule | expert success | mean steps |\n");
    fmt::print("|---|---|---|---|---|---|\n");
  }
  for (const sim::Task* task : tasks) {
    int ok = 0;
    double steps = 0;
    std::vector<uint64_t> failed;
    for (int i = 0; i < o.seeds; ++i) {
      const auto e = sim::run_expert(env, *task, o.seed + i, false, {0.0, o.regrasp});
      ok += e.success;
      steps += e.steps;
      if (!e.success) failed.push_back(o.seed + i);
    }
    const int pct = 100 * ok / o.seeds;
    worst = std::min(worst, pct);
    std::string rule;
    for (const auto& g : task->goals) {
      rule += (rule.empty() ? "" : " and ") + sim::describe_goal(*task, g);
    }
    if (o.markdown) {
      fmt::print("| {} | {} | {} | {} | {}/{} | {:.0f} |\n", task->suite, task->name,
                 task->instruction, rule, ok, o.seeds, steps / o.seeds);
    } else {
      fmt::print("{:8} {:45} {:3}/{:3}  mean steps {:5.1f}{}\n", task->suite, task->name, ok,
                 o.seeds, steps / o.seeds,
                 failed.empty() ? "" : fmt::format("  failed seeds: {}", fmt::join(failed, " ")));
    }
    std::fflush(stdout);
  }
  return worst >= 95 ? 0 : 3;
}

}  // namespace

Command add_sim_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("sim", "the MuJoCo tabletop benchmark: collect demos, render");
  cmd->require_subcommand(1);

  auto collect = std::make_shared<sim::CollectOptions>();
  auto* c = cmd->add_subcommand("collect", "write expert demonstrations, one LIBERO HDF5 per task");
  c->add_option("--suite", collect->suite, "spatial | object | goal | long | bridge | fractal");
  c->add_option("--tasks", collect->tasks, "task names (default: every task of the suite)");
  c->add_option("--episodes", collect->episodes, "successful demonstrations per task");
  c->add_option("--out", collect->out_dir, "output directory")->required();
  c->add_option("--resolution", collect->resolution, "camera image side in pixels");
  c->add_option("--seed", collect->seed, "first layout seed");
  c->add_option("--action-noise", collect->action_noise,
                "dart-style data: std of gaussian noise on the executed x/y/z actions (1 = 5 cm); "
                "the recorded labels stay the expert's")
      ->check(CLI::Range(0.0, 1.0));
  c->add_option("--regrasp", collect->regrasp,
                "regrasp data: probability that a pick's first grasp fails (the object is moved "
                "out of the closing fingers) and the expert recovers: backs up, opens above it, "
                "grasps again")
      ->check(CLI::Range(0.0, 1.0));

  auto render = std::make_shared<RenderOptions>();
  auto* r = cmd->add_subcommand("render", "render a scene (.png) or an expert rollout (.mp4)");
  r->add_option("--suite", render->suite, "spatial | object | goal | long | bridge | fractal");
  r->add_option("--task", render->task, "task name (default: the suite's first)");
  r->add_option("--seed", render->seed, "layout seed");
  r->add_option("--out", render->out, "FILE.png or FILE.mp4")->required();
  r->add_option("--resolution", render->resolution, "camera image side in pixels");
  r->add_option("--frames", render->frames,
                "png only: tile this many evenly spaced frames of the expert rollout")
      ->check(CLI::Range(1, 64));
  r->add_option("--regrasp", render->regrasp,
                "show a regrasp demonstration: probability that the first grasp fails (see "
                "collect --regrasp)")
      ->check(CLI::Range(0.0, 1.0));
  r->add_option(
      "--variant", render->variant,
      "a visual variant (sim/variants.h: light_dim, light_bright, table_grey, table_white, "
      "background_blue, camera_left, camera_high, distractors; default: none)");

  auto experts = std::make_shared<ExpertsOptions>();
  auto* e = cmd->add_subcommand("experts", "measure each task's scripted expert over seeds");
  e->add_option("--suite", experts->suite, "spatial | object | goal | long | bridge | fractal");
  e->add_option("--tasks", experts->tasks, "task names (default: every task of the suite)");
  e->add_option("--seeds", experts->seeds, "episodes per task")->check(CLI::PositiveNumber);
  e->add_option("--seed", experts->seed, "first seed");
  e->add_flag("--markdown", experts->markdown, "print a markdown table");
  e->add_option("--regrasp", experts->regrasp,
                "measure the experts on regrasp data: probability that a pick's first grasp "
                "fails (see collect --regrasp)")
      ->check(CLI::Range(0.0, 1.0));
  e->add_option(
      "--variant", experts->variant,
      "a visual variant (sim/variants.h: light_dim, light_bright, table_grey, table_white, "
      "background_blue, camera_left, camera_high, distractors; default: none)");

  auto corpus = std::make_shared<sim::CorpusOptions>();
  auto* k = cmd->add_subcommand(
      "corpus",
      "write a labelled image corpus for vision pretraining: random layouts of every task, random "
      "arm poses, every camera of the suites (two for LIBERO's, one for bridge and fractal), "
      "object/drawer/gripper labels (docs/FORMATS.md)");
  k->add_option("--suites", corpus->suites,
                "suites to draw tasks from (default: the four LIBERO suites)");
  k->add_option("--frames", corpus->frames, "frames to write")->check(CLI::PositiveNumber);
  k->add_option("--resolution", corpus->resolution, "camera image side in pixels")
      ->check(CLI::Range(16, 512));
  k->add_option("--seed", corpus->seed,
                "corpus seed (< 65536): two files with different seeds share no layout");
  k->add_option("--out", corpus->out, "FILE.safetensors")->required();
  k->add_option("--place-prob", corpus->frame.place_on_receptacle,
                "probability that an object starts dropped onto a receptacle or another object")
      ->check(CLI::Range(0.0, 1.0));

  return {cmd, [=]() {
            if (k->parsed()) {
              sim::write_corpus(*corpus);
              return 0;
            }
            if (c->parsed()) {
              sim::collect_demonstrations(*collect);
              return 0;
            }
            if (r->parsed()) return run_render(*render);
            return run_experts(*experts);
          }};
}

}  // namespace avla
