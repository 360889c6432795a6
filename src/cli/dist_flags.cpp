// the data-parallel flags shared by `train` and `train-rater` (docs/DISTRIBUTED.md)
#include "cli/commands.h"
#include "train/launch.h"

namespace avla {

void add_dist_flags(CLI::App* cmd, DistFlags& flags) {
  cmd->add_option("--nproc", flags.nproc,
                  "start this many local data-parallel ranks (torchrun's RANK/WORLD_SIZE/"
                  "MASTER_ADDR/MASTER_PORT variables launch ranks by hand instead)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--dist-timeout", flags.timeout_s,
                  "seconds a rank waits for the rendezvous or a collective before it gives up")
      ->check(CLI::Range(1.0, 86400.0));
}

int run_data_parallel(const DistFlags& flags, const std::function<int(const DistConfig&)>& body) {
  if (flags.nproc > 1) return launch_local_ranks(command_line(), flags.nproc);
  DistConfig dist = DistConfig::from_environment();
  dist.timeout_s = flags.timeout_s;
  return body(dist);
}

}  // namespace avla
