// the labelled vision corpus (asyncvla sim corpus): randomized scenes of every task of the chosen
// suites, a random reachable arm pose and gripper opening, both cameras, and per frame the
// privileged labels the vision pretraining regresses (docs/FORMATS.md, "vision corpus"). no
// expert runs: a frame costs one reset, one placement of the arm and a few control periods of
// settling.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sim/env.h"

namespace avla::sim {

// one label slot per object instance a scene can hold: every (colour, kind) class of the suites,
// as many slots as the most instances of it in one scene. duplicates (spatial's two red cubes)
// fill their slots in order of world y, then x.
struct CorpusSlots {
  std::vector<std::string> names;  // "red_cube#0", "red_cube#1", "white_bowl#0", ... sorted
  std::vector<int> yaw_order;      // each slot's sim::yaw_order (4 for a cube, 0 for a bowl)
  // the slot of each object of a task's scene, in scene order, given their current positions
  std::vector<int> assign(const Task& task, const std::vector<Vec3>& positions) const;
  int size() const { return static_cast<int>(names.size()); }
};
CorpusSlots corpus_slots(const std::vector<const Task*>& tasks);

// one frame's labels, all from the simulator state after settling
struct CorpusLabels {
  std::vector<uint8_t> slot_present;  // (n_slot) 1 where the scene holds that instance
  std::vector<float> slot_pos;        // (n_slot, 3) world position of the body, m; 0 when absent
  std::vector<float> slot_yaw;        // (n_slot, 2) sim::yaw_features of the body; 0 when absent
  float cabinet = 0.0f;               // 1 when the scene has the cabinet
  float drawer = 0.0f;                // drawer opening, m (0 without a cabinet)
  std::array<float, 3> ee_pos{};      // grip site, m
  std::array<float, 4> ee_quat{};     // grip site orientation (w, x, y, z), w >= 0
  std::array<float, 2> gripper{};     // finger openings, m
};

CorpusLabels corpus_labels(Env& env, const CorpusSlots& slots);

struct CorpusFrameOptions {
  double place_on_receptacle = 0.3;  // probability that a graspable object starts dropped onto
                                     // a receptacle or another object (the states after a place)
  double near_object = 0.5;          // probability that the grip aims near an object, low
  int settle_steps = 6;              // control periods of settling after the arm is placed
  int max_arm_tries = 10;            // arm poses that penetrate something are drawn again
};

// resets env to task at layout_seed and randomizes it with rng: drawer opening, an optional
// dropped object, the arm's pose and gripper opening (a pose whose arm touches anything else is
// drawn again; after max_arm_tries the arm stays home), then settles. returns the observation
struct CorpusFrame {
  SimObservation observation;
  CorpusLabels labels;
};
CorpusFrame sample_corpus_frame(Env& env, const Task& task, uint64_t layout_seed,
                                const CorpusSlots& slots, std::mt19937_64& rng,
                                const CorpusFrameOptions& options = {});

struct CorpusOptions {
  std::vector<std::string> suites;  // empty: the four LIBERO suites (two cameras)
  int64_t frames = 10000;
  int resolution = 64;
  uint64_t seed = 0;  // frame i uses layout seed seed * 2^24 + i (all below eval_seed_offset)
  std::string out;    // FILE.safetensors
  CorpusFrameOptions frame;
};

// writes the corpus atomically; returns frames per second of generation
double write_corpus(const CorpusOptions& options);

}  // namespace avla::sim
