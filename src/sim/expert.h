// scripted experts: one skill per goal (pick-and-place, open drawer, close drawer), driven by
// waypoints from privileged object poses and acting only through the 7-D action interface, with
// seeded noise so that demonstrations vary.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sim/controller.h"
#include "sim/layout.h"
#include "sim/physics.h"
#include "sim/tasks.h"

namespace avla::sim {

struct ExpertConfig {
  double action_noise = 0.04;      // std of Gaussian noise on translation actions in transit
  double waypoint_jitter = 0.004;  // metres, per waypoint
  double gain = 0.8;               // proportional gain (fraction of the error closed per step)
  // regrasp demonstrations: the probability that a goal's first grasp is made to fail (the
  // caller moves the object out of the closed fingers, see take_grasp_failure). any value > 0
  // also turns on the recovery: when the carried object is no longer at the fingers, the expert
  // backs up, opens above the object and grasps it again (at most max_regrasps times per goal).
  double regrasp = 0.0;
  ControllerConfig scale;  // action scale of the controller the expert drives
};

class Expert {
 public:
  Expert(const Task& task, const Layout& layout, uint64_t seed, ExpertConfig config = {});
  // the next action for the current physics state
  Action act(const Physics& physics);
  bool finished() const { return goal_index_ >= goals_.size(); }
  // the object whose grasp the expert has just closed and wants made to fail (config.regrasp),
  // or "" when none; the request is cleared
  std::string take_grasp_failure();
  int regrasps() const { return regrasps_total_; }  // recoveries started so far

  static constexpr int max_regrasps = 3;

 private:
  struct Target {
    Vec3 pos;
    double yaw;
    double gripper;
  };
  Action move_toward(const Physics& physics, const Target& target, double speed);
  Action pick_place(const Physics& physics, const Goal& goal);
  Action open_drawer(const Physics& physics, const Goal& goal);
  Action close_drawer(const Physics& physics, const Goal& goal);
  // the three-drawer cabinet: its handles stand out in front of the drawers
  Action open_front_handle(const Physics& physics, const Goal& goal);
  Action close_front_handle(const Physics& physics, const Goal& goal);
  void next_phase();
  // moves to the next phase (or, in a skill's last phase, to the next goal) once condition holds
  // or the phase has run max_steps
  void advance_if(bool condition, int max_steps, bool last_phase = false);
  void finish_goal();

  const Task& task_;
  std::vector<Goal> goals_;
  size_t goal_index_ = 0;
  int phase_ = 0;
  int phase_steps_ = 0;
  Vec3 anchor_{};     // position remembered at a phase start (grasp point, handle)
  Vec3 near_spot_{};  // move-near: where the carried object is set down, chosen above the target
  double yaw_ = 0.0;
  double speed_scale_ = 1.0;
  Vec3 jitter_{};
  int goal_regrasps_ = 0;  // recoveries of the current goal
  int regrasps_total_ = 0;
  std::string grasp_failure_;
  ExpertConfig config_;
  std::mt19937_64 rng_;
};

// moves a grasped object 5.5-8 cm across the table, clear of the closing fingers and of the other
// objects, upright (the regrasp demonstrations' failed grasp); false when 20 draws found no free
// spot (nothing is moved)
bool displace_object(Physics& physics, const Task& task, const std::string& object,
                     std::mt19937_64& rng);

}  // namespace avla::sim
