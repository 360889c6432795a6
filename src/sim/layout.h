// an episode's layout: where a task's objects start, drawn from the task's regions by seed, with
// the spatial selector resolved into concrete goals
#pragma once

#include <cstdint>
#include <vector>

#include "sim/tasks.h"

namespace avla::sim {

// one sampled episode: object poses and goals with the selector resolved
struct Layout {
  std::vector<Pose> object_poses;  // per task.scene.objects
  std::vector<Goal> goals;
  Vec3 grip_offset{};  // where the grip starts against home: task.arm_start_offset + its jitter
};

// a deterministic layout for (task, seed); rejection-samples until objects do not overlap and the
// selector's relation is unambiguous
Layout sample_layout(const Task& task, uint64_t seed);
// the task's fixed home layout (task.home_jitter > 0): drawn once from its name, with room for the
// jitter so that every jittered episode keeps its gaps and an unambiguous relation
Layout home_layout(const Task& task);

}  // namespace avla::sim
