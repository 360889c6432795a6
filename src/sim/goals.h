// what a task asks, read from the physics state: its goals' predicates, the placements it did not
// ask for (wrong object, wrong target), and the privileged object state
#pragma once

#include <array>
#include <string>
#include <vector>

#include "sim/layout.h"
#include "sim/physics.h"
#include "sim/tasks.h"

namespace avla::sim {

// predicates on the current physics state
bool goal_satisfied(const Physics& physics, const Task& task, const Goal& goal);
// the object is held: both fingers touch it (a lift's grasp, eval's grasp success)
bool held_by_fingers(const Physics& physics, const std::string& object);
// either finger touches the object (a placement counts once neither does)
bool touches_fingers(const Physics& physics, const std::string& object);
// how far a Place or Near goal's object is from its target across the table (m): the horizontal
// distance of their centres (a stack needs < 2 cm); -1 for a goal without a target object
double target_offset_xy(const Physics& physics, const Goal& goal);
// how far a stack goal's object sits above where it would rest on its target (m): the height of
// its centre above the target's centre, less both rest heights (the stack rule's dz, which it
// wants within 1.2 cm of 0; below 0 where it sits lower, beside the target or on a tipped one);
// NaN for a goal whose target is not a cube or a cylinder. read at the fingers' release it tells a
// drop from a set-down
double stack_gap_z(const Physics& physics, const Task& task, const Goal& goal);
// how far a body is tipped from upright: the angle between its z axis and the world's, degrees
double tilt_deg(const Physics& physics, const std::string& body);
// the grip yaw that grasps an object: the fingers square to a cube's faces (its yaw mod 90 degrees,
// in [-45, 45]), closing across a lying object's long axis (mod 180, in [-90, 90]); 0 for a round
// one. the expert grasps at it; grasp_yaw_error_deg measures a grasp against it
double grasp_yaw(const Quat& q, ObjectKind kind);
// an object's orientation as labels that are continuous across its symmetry: (sin k*g, cos k*g)
// of its grasp yaw g, k = 4 for a cube (period 90 degrees), 2 for a lying object (180); (0, 0) for
// a round one. the privileged object state and the vision corpus carry it
std::array<double, 2> yaw_features(const Quat& q, ObjectKind kind);
int yaw_order(ObjectKind kind);  // that k: 4, 2, or 0 for a round object
// how far the fingers' closing axis turns from the grasp an object wants, in degrees: square to a
// cube's faces (mod 90, so 0 .. 45; 45 closes across its diagonal), across a lying object's long
// axis (mod 180, 0 .. 90); -1 for an object of any other shape (round: every yaw grasps it)
double grasp_yaw_error_deg(const Physics& physics, const Task& task, const std::string& object);
// the Place pairs of a layout's scene that none of its goals asks for: every scene object that is
// not a receptacle, in or on every receptacle (bowls, plates, baskets and the goals' targets).
// env counts the ones that held as wrong placements (wrong object, wrong target)
std::vector<Goal> unrequested_placements(const Task& task, const Layout& layout);
std::string describe_goal(const Task& task, const Goal& goal);  // for docs/TASKS.md

// the privileged object state of the current physics state: object_state_dim numbers laid out as
// data/object_state.h says (object positions in scene order, zero-padded, their yaw features,
// then the drawer opening)
std::vector<double> object_state(const Physics& physics, const Task& task);

}  // namespace avla::sim
