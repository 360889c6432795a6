// asyncvla eval: closed-loop rollouts in the simulator; asyncvla eval-rater: rater quality on
// held-out demonstrations.
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "eval/evaluate.h"
#include "eval/paired.h"
#include "eval/rater_quality.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "util/log.h"

namespace avla {

Command add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "closed-loop success rates of a policy in the simulator");
  auto o = std::make_shared<EvalOptions>();
  auto act = std::make_shared<ActFlags>();
  auto out = std::make_shared<std::string>();
  auto device = std::make_shared<DeviceFlags>();
  cmd->add_option("--ckpt", o->ckpt, "checkpoint directory (or --server)");
  cmd->add_option("--server", o->server,
                  "evaluate the policy behind an openpi-protocol server at ws://HOST:PORT instead "
                  "(its mode, flow steps and gripper handling apply)");
  cmd->add_option("--api-key", o->api_key, "--server: the server's api key");
  cmd->add_option("--scripted", o->scripted,
                  "diagnostics without a policy: expert (the scripted expert's actions; every "
                  "episode should succeed) or zero (zero actions; none should)")
      ->check(CLI::IsMember({"expert", "zero"}));
  cmd->add_option("--suite", o->suite, "spatial | object | goal | long | bridge | fractal");
  cmd->add_option("--tasks", o->tasks, "task names (default: every task of the suite)");
  cmd->add_option("--episodes", o->episodes, "episodes per task")->check(CLI::PositiveNumber);
  add_act_flags(cmd, *act);
  add_device_flags(cmd, *device, true);
  add_optional(cmd, "--replan", o->replan,
               "actions executed from each chunk before replanning (default: half the chunk)")
      ->check(CLI::Range(1, 1 << 20));
  add_optional(cmd, "--resolution", o->resolution,
               "camera image side (default: the checkpoint's training resolution)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--video", o->video_dir, "write mp4 rollouts with the confidence overlay here");
  cmd->add_option("--videos-per-task", o->videos_per_task, "rollout videos per task");
  cmd->add_option("--seed", o->seed, "first evaluation seed (offset by 2^40 from demo seeds)");
  cmd->add_flag("--demo-seeds", o->demo_seeds,
                "diagnostics: evaluate on the demonstrations' layout seeds (--seed + k) instead of "
                "held-out ones (an overfit check, not a success rate)");
  add_optional(cmd, "--max-steps", o->max_steps,
               "cap on steps per episode (default: the task's limit)")
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--parallel", o->parallel,
                  "environments stepped in lockstep with one batched policy call per replan "
                  "(same seeds; batched float rounding can change an episode's outcome)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--variant", o->variant,
                  "show every episode under one visual variant (light_dim, light_bright, "
                  "table_grey, table_white, background_blue, camera_left, camera_high, "
                  "distractors; default: none, the visual-matching look)");
  auto variants = std::make_shared<bool>(false);
  cmd->add_flag("--variants", *variants,
                "variant aggregation: the same episodes under every visual variant in turn, and "
                "the mean of their success rates (SimplerEnv's 'variant aggregation')")
      ->excludes("--variant");
  cmd->add_option("--out", *out, "results JSON (default: <ckpt>/eval_<suite>_<mode>.json)");
  return {cmd, [o, act, out, device, variants]() {
            o->device = apply_device_flags(*device);
            o->precision = precision_flag(*device);
            o->act = act_options(*act, o->ckpt);
            auto path_for = [&](const std::string& mode) {
              const std::string name =
                  fmt::format("eval_{}_{}{}.json", o->suite, mode, *variants ? "_variants" : "");
              return !out->empty()     ? *out
                     : o->ckpt.empty() ? name
                                       : (std::filesystem::path(o->ckpt) / name).string();
            };
            if (*variants) {
              const VariantAggregate a = evaluate_variants(*o);
              const std::string path = path_for(a.reports.front().mode);
              write_file_atomic(path, to_json(a).dump(2) + "\n");
              for (const EvalReport& r : a.reports) fmt::print("{}\n", format_table(r));
              fmt::print("{}", format_table(a));
              log_info("[eval] {} episodes under {} variants -> {}", a.episodes, a.reports.size(),
                       path);
              return 0;
            }
            const EvalReport report = evaluate(*o);
            const std::string path = path_for(report.mode);
            write_file_atomic(path, to_json(report).dump(2) + "\n");
            fmt::print("{}", format_table(report));
            log_info("[eval] {} episodes in {:.0f} s -> {}", report.episodes.size(), report.seconds,
                     path);
            return 0;
          }};
}

Command add_eval_rater_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval-rater",
                                 "rater quality on held-out demos: AUROC, and SFM vs AFM error");
  auto o = std::make_shared<RaterQualityOptions>();
  auto out = std::make_shared<std::string>();
  auto device = std::make_shared<DeviceFlags>();
  cmd->add_option("--ckpt", o->ckpt, "checkpoint directory with a rater")->required();
  add_device_flags(cmd, *device, true);
  cmd->add_option("--data", o->data, "held-out LIBERO-layout files or directories")->required();
  cmd->add_option("--frames", o->frames, "frames to sample")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", o->batch, "frames per batch")->check(CLI::PositiveNumber);
  cmd->add_option("--top-fraction", o->top_fraction,
                  "positives: each chunk's highest-error tokens (this fraction of L)");
  cmd->add_option("--threshold", o->threshold, "async threshold for the AFM comparison")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--random-prob", o->random_mask_prob,
                  "the random baseline masks each token of the rater's window with this "
                  "probability")
      ->check(CLI::Range(0.0, 1.0));
  add_optional(cmd, "--flow-steps", o->n_steps,
               "flow steps of both rounds (default: the checkpoint's)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--seed", o->seed, "sampling and noise seed");
  cmd->add_option("--space", o->error_space,
                  "where errors are measured: normalized or action (default: the rater's label "
                  "space)")
      ->check(CLI::IsMember({"normalized", "action"}));
  add_optional(cmd, "--replan", o->replan,
               "executed window: the first this many tokens of a chunk (default: half, as eval)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--out", *out, "results JSON (default: <ckpt>/eval_rater.json)");
  return {cmd, [o, out, device]() {
            o->device = apply_device_flags(*device);
            o->precision = precision_flag(*device);
            const RaterQuality q = evaluate_rater(*o);
            const std::string path =
                out->empty() ? (std::filesystem::path(o->ckpt) / "eval_rater.json").string() : *out;
            write_file_atomic(path, to_json(q).dump(2) + "\n");
            fmt::print(
                "frames {} | AUROC (1 - confidence -> top-{:.0f}% error tokens of the first {}) "
                "{:.3f}\n"
                "per-token error ({} space): SFM {:.4f} | async AFM (T {}) {:.4f} | "
                "random-half AFM {:.4f}\nregenerated {:.1f}% of tokens, mean confidence {:.3f}\n",
                q.frames, 100 * o->top_fraction, q.window, q.auroc, q.error_space, q.sfm_error,
                o->threshold, q.async_error, q.random_error, 100 * q.regenerated_fraction,
                q.mean_confidence);
            fmt::print(
                "executed window (first {} tokens): SFM {:.4f} | async AFM {:.4f} | random-half "
                "AFM {:.4f} | regenerated {:.1f}%\nby position (SFM error / regenerated %):",
                q.executed, q.sfm_error_executed, q.async_error_executed, q.random_error_executed,
                100 * q.regenerated_executed);
            for (size_t l = 0; l < q.sfm_error_by_pos.size(); ++l)
              fmt::print(" {}:{:.3f}/{:.0f}", l, q.sfm_error_by_pos[l],
                         100 * q.regenerated_by_pos[l]);
            fmt::print("\n");
            log_info("[eval-rater] -> {}", path);
            return 0;
          }};
}

Command add_compare_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "compare", "paired comparison of two eval reports on the same episodes (exact McNemar)");
  auto files = std::make_shared<std::vector<std::string>>();
  cmd->add_option("reports", *files, "two eval JSON files (A B)")->required()->expected(2);
  return {cmd, [files]() {
            const std::string& a = (*files)[0];
            const std::string& b = (*files)[1];
            const PairedComparison c = compare_evaluations(read_json_file(a, "compare"), a,
                                                           read_json_file(b, "compare"), b);
            fmt::print("{}", format_comparison(c));
            return 0;
          }};
}

}  // namespace avla
