// expert rollouts and demonstration collection: one LIBERO-layout HDF5 file per task
// (docs/FORMATS.md), only successful episodes, no-op actions dropped, files written atomically.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sim/env.h"
#include "sim/expert.h"

namespace avla::sim {

// demonstrations use seeds below this; evaluation seeds start here, so the two never overlap
constexpr uint64_t eval_seed_offset = uint64_t{1} << 40;

struct ExpertEpisode {
  bool success = false;
  int steps = 0;                             // control steps taken, no-ops included
  std::vector<SimObservation> observations;  // one per kept step (when recording)
  std::vector<Action> actions;               // one per kept step
};

// an action that does nothing (as in OpenVLA's LIBERO regeneration): no motion and the same
// gripper command as the previous step
bool is_noop(const Action& action, const Action* previous);

// runs the task's expert from reset(task, seed) until success or the step limit. with record,
// keeps the observation before each non-no-op action; on_step (optional) sees every step.
// action_noise > 0 (DART-style data): the executed action's x, y, z get gaussian noise of that
// standard deviation (action units, 1 = 5 cm), seeded by the episode seed, while the recorded
// label stays the expert's own action, so the demonstrations also show how the expert recovers
// from states off its path.
ExpertEpisode run_expert(Env& env, const Task& task, uint64_t seed, bool record,
                         double action_noise = 0.0,
                         const std::function<void(const StepResult&)>& on_step = {});

struct CollectOptions {
  std::string suite = "spatial";
  std::vector<std::string> tasks;  // empty: every task of the suite
  int episodes = 50;               // successful demonstrations per task
  std::string out_dir;
  int resolution = 128;
  uint64_t seed = 0;          // demo i of a task uses seed + i (+ retries)
  double action_noise = 0.0;  // std of the noise on executed x, y, z (run_expert); labels clean
};

// returns the written file paths
std::vector<std::string> collect_demonstrations(const CollectOptions& options);

}  // namespace avla::sim
