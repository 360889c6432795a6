// `--nproc N`: one command starts N local ranks of itself, the way torchrun does: each child runs
// the same command line without --nproc, with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
// MASTER_PORT set (a free loopback port unless MASTER_PORT is given) and --threads cores/N unless
// --threads is given. SIGINT/SIGTERM go to every rank; when one rank fails the launcher says
// which and how, stops the others (SIGTERM, SIGKILL after 10 s) and returns non-zero.
#pragma once

#include <string>
#include <vector>

namespace avla {

// a port the kernel considers free on loopback right now (MASTER_PORT of a local launch)
int free_loopback_port();

// argv without "--nproc N" / "--nproc=N"
std::vector<std::string> without_nproc(const std::vector<std::string>& argv);

// runs the ranks of argv (argv[0] is ignored: the children exec this same binary) and returns
// the exit code for the launcher: 0 when every rank exited 0, else 1 (128 + signal when the
// launcher itself was interrupted)
int launch_local_ranks(const std::vector<std::string>& argv, int nproc);

}  // namespace avla
