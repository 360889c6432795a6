// each subcommand registers its flags on the app and returns the function that runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace avla {

struct Command {
  CLI::App* sub = nullptr;
  std::function<int()> run;
};

Command add_train_command(CLI::App& app);
Command add_infer_command(CLI::App& app);
Command add_synth_command(CLI::App& app);
Command add_sim_command(CLI::App& app);
Command add_train_rater_command(CLI::App& app);
Command add_eval_command(CLI::App& app);
Command add_eval_rater_command(CLI::App& app);
Command add_compare_command(CLI::App& app);

}  // namespace avla
