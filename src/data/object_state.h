// the layout of the privileged object state (a diagnostic; data/state_features.h says how the
// model takes it). no torch here: the simulator computes it (sim::object_state) and includes this.
//   object_state (object_state_dim): world position (x, y, z) of each scene object in scene order;
//   in a three-drawer cabinet's scenes, then each drawer's front-face position (top, middle,
//   bottom: its x is the opening); zeros up to max_state_objects slots. then each slot's yaw
//   features (sin k*g, cos k*g) of its grasp yaw g, k = 4 for a cube and 2 for a lying object
//   (sim::yaw_features; zeros for round objects, drawers and empty slots), then the opening of the
//   cabinet's first drawer (its only one, or the top one; 0 without a cabinet)
#pragma once

namespace avla {

constexpr int max_state_objects = 8;
constexpr int object_yaw_offset = 3 * max_state_objects;  // where the yaw features start
constexpr int object_state_dim = 5 * max_state_objects + 1;

}  // namespace avla
