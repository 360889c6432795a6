// each subcommand registers its flags on the app and returns the function that runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "train/distributed.h"

namespace avla {

struct Command {
  CLI::App* sub = nullptr;
  std::function<int()> run;
};

// an override flag: target stays unset (the checkpoint's or the task's value) unless given
template <typename T>
CLI::Option* add_optional(CLI::App* cmd, const std::string& name, std::optional<T>& target,
                          const std::string& description) {
  return cmd->add_option_function<T>(
      name, [&target](const T& value) { target = value; }, description);
}

// this process's argv (for --nproc, which starts the ranks as copies of the same command line)
const std::vector<std::string>& command_line();

// --nproc N and --dist-timeout S of the training commands. run_data_parallel() runs body as
// this process's rank (torchrun's variables, or a single process), or with --nproc > 1 starts N
// local ranks of this same command line and returns the launcher's exit code.
struct DistFlags {
  int nproc = 1;
  double timeout_s = 300;
};
void add_dist_flags(CLI::App* cmd, DistFlags& flags);
int run_data_parallel(const DistFlags& flags, const std::function<int(const DistConfig&)>& body);

// the policy flags of eval, infer and serve (--mode --threshold --random-prob --mask-window
// --flow-steps --noise-scale --gripper): one name and one default for each of alg. 1's settings
struct ActFlags {
  std::string mode = "auto";  // auto: async when the checkpoint has a rater, else sfm
  std::string gripper = "binary";
  ActOptions act;  // the numeric settings, bound directly
};
void add_act_flags(CLI::App* cmd, ActFlags& flags);
// the options for checkpoint ckpt (auto resolved against its rater)
ActOptions act_options(const ActFlags& flags, const std::string& ckpt);

// --device and --plain-ops of every command that runs a model (train, train-rater, eval,
// eval-rater, infer, serve): one name and one default
struct DeviceFlags {
  std::string device = "cpu";      // cpu | cuda | cuda:N
  bool plain_ops = false;          // LibTorch's plain ops instead of our cpu kernels
  std::string precision = "fp32";  // inference commands only: fp32 | bf16
};
// with_precision: the inference commands (eval, eval-rater, infer, serve) also take --precision
void add_device_flags(CLI::App* cmd, DeviceFlags& flags, bool with_precision = false);
// the device the flags name (an error names a bad one); --plain-ops switches our kernels off
torch::Device apply_device_flags(const DeviceFlags& flags);
// the precision --precision names (an error when the cpu cannot run it)
Precision precision_flag(const DeviceFlags& flags);

Command add_train_command(CLI::App& app);
Command add_pretrain_vision_command(CLI::App& app);
Command add_infer_command(CLI::App& app);
Command add_synth_command(CLI::App& app);
Command add_sim_command(CLI::App& app);
Command add_train_rater_command(CLI::App& app);
Command add_eval_command(CLI::App& app);
Command add_eval_rater_command(CLI::App& app);
Command add_compare_command(CLI::App& app);
Command add_serve_command(CLI::App& app);

}  // namespace avla
