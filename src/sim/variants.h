// SimplerEnv's visual variants on our scenes: the default look is "visual matching", and each
// variant changes one thing a policy sees (lighting, table colour, background, camera pose, or
// distractor objects) while the task, its layout, its expert and its success rule stay the same.
// eval --variant NAME evaluates under one, eval --variants under each ("variant aggregation").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/physics.h"
#include "sim/scene.h"
#include "sim/tasks.h"

namespace avla::sim {

struct VisualVariant {
  std::string name;  // "light_dim", ...
  std::string what;  // one line for tables and docs
  SceneLook look;
  int distractors = 0;  // objects of classes the task's scene does not hold, placed clear of it
};

// the variants of the aggregation, in a fixed order (the default look is not among them)
const std::vector<VisualVariant>& visual_variants();
// a variant by name; "" or "none" is the default look. unknown names are an error listing them
const VisualVariant& find_variant(const std::string& name);

// the scene a task is shown in under a variant: its look, and its distractor objects appended
// after the task's own (named distractor_0, ...)
SceneSpec variant_scene(const Task& task, const VisualVariant& variant);

// puts the variant's distractors on the table (in view, not necessarily in reach), clear of every
// task object (3 cm between footprints) and of the cabinet and its drawer's travel, seeded by
// seed; a distractor that finds no free spot in 200 draws is an error naming the task
void place_distractors(Physics& physics, const Task& task, const VisualVariant& variant,
                       uint64_t seed);

}  // namespace avla::sim
