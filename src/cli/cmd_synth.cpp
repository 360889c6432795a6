// asyncvla synth --out DIR [--tasks N --episodes N --resolution R --seed S]
#include "cli/commands.h"
#include "data/synthetic.h"
#include "util/log.h"

namespace avla {

Command add_synth_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "synth", "write a synthetic reach-and-grasp dataset in the LIBERO HDF5 layout");
  auto opt = std::make_shared<SyntheticOptions>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("--out", *out, "output directory")->required();
  cmd->add_option("--n-tasks", opt->n_tasks, "number of tasks (one file each), 1..4");
  cmd->add_option("--episodes", opt->episodes, "demonstrations per task");
  cmd->add_option("--resolution", opt->resolution, "image side in pixels");
  cmd->add_option("--seed", opt->seed, "random seed");
  return {cmd, [opt, out]() {
            auto paths = write_synthetic_dataset(*out, *opt);
            for (const auto& p : paths) log_info("[synth] wrote {}", p);
            return 0;
          }};
}

}  // namespace avla
