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
  int regrasps = 0;                          // recoveries from a lost grasp (DemoVariation)
  std::vector<SimObservation> observations;  // one per kept step (when recording)
  std::vector<Action> actions;               // one per kept step
};

// an action that does nothing (as in OpenVLA's LIBERO regeneration): no motion and the same
// gripper command as the previous step
bool is_noop(const Action& action, const Action* previous);

// how demonstrations may deviate from the expert's clean path
struct DemoVariation {
  // dart-style data: the executed action's x, y, z get gaussian noise of this standard deviation
  // (action units, 1 = 5 cm), seeded by the episode seed, while the recorded label stays the
  // expert's own action, so the demonstrations also show how the expert recovers from states
  // off its path
  double action_noise = 0.0;
  // regrasp data: the probability that a pick's first grasp fails (the object is moved 5.5-8 cm
  // out of the closing fingers); the expert notices the lost object, backs up, opens above it and
  // grasps it again, so the demonstrations show the recovery a policy needs after a missed grasp
  double regrasp = 0.0;
};

// runs the task's expert from reset(task, seed) until success or the step limit. with record,
// keeps the observation before each non-no-op action; on_step (optional) sees every step.
ExpertEpisode run_expert(Env& env, const Task& task, uint64_t seed, bool record,
                         const DemoVariation& variation = {},
                         const std::function<void(const StepResult&)>& on_step = {});

struct CollectOptions {
  std::string suite = "spatial";
  std::vector<std::string> tasks;  // empty: every task of the suite
  int episodes = 50;               // successful demonstrations per task
  std::string out_dir;
  int resolution = 128;
  uint64_t seed = 0;          // demo i of a task uses seed + i (+ retries)
  double action_noise = 0.0;  // DemoVariation::action_noise
  double regrasp = 0.0;       // DemoVariation::regrasp
};

// returns the written file paths
std::vector<std::string> collect_demonstrations(const CollectOptions& options);

}  // namespace avla::sim
