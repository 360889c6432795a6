// a small synthetic "reach and grasp" benchmark written in the LIBERO layout, for tests and for
// trying the pipeline without the simulator: coloured blocks on a table seen from above
// (agentview) and from the gripper (eye_in_hand); the instruction names the block to reach.
// the scripted expert moves toward it, descends, closes the gripper and holds (pause frames).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace avla {

struct SyntheticOptions {
  int n_tasks = 2;      // task k reaches colour k (red, green, blue, yellow)
  int episodes = 8;     // per task
  int resolution = 64;  // image side
  uint64_t seed = 0;
  double action_noise = 0.05;
};

// writes <out_dir>/synthetic_task<k>.hdf5 per task; returns the paths.
std::vector<std::string> write_synthetic_dataset(const std::string& out_dir,
                                                 const SyntheticOptions& options);

}  // namespace avla
