// one LIBERO / robomimic hdf5 file = one task (docs/FORMATS.md):
//   data                       attrs: problem_info (json, language_instruction), env_args (json),
//                                     num_demos, total
//   data/demo_<i>              attrs: num_samples, init_state
//   data/demo_<i>/actions      (T, 7)  float64  [dx, dy, dz, dax, day, daz, gripper] in [-1, 1]
//   data/demo_<i>/obs/agentview_rgb, obs/eye_in_hand_rgb   (T, H, W, 3) uint8
//   data/demo_<i>/obs/{joint_states (T,7), gripper_states (T,2), ee_states (T,6),
//                      ee_pos (T,3), ee_ori (T,3)}         float64
//   data/demo_<i>/obs/object_states (T, 41) float64, optional: our simulator's privileged object
//                      state (data/object_state.h), read when present
//   data/demo_<i>/{states (T, S), robot_states (T, R), rewards (T), dones (T)}
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace avla {

// one demonstration as stored (float64 vectors, uint8 HWC images). optional tensors may be
// undefined when writing; the reader fills those it uses.
struct LiberoDemo {
  torch::Tensor actions;        // (T, 7) float64
  torch::Tensor agentview_rgb;  // (T, H, W, 3) uint8
  torch::Tensor
      eye_in_hand_rgb;           // (T, H, W, 3) uint8; undefined where the file has no wrist camera
  torch::Tensor joint_states;    // (T, 7)
  torch::Tensor gripper_states;  // (T, 2)
  torch::Tensor ee_states;       // (T, 6) pos + axis-angle
  torch::Tensor ee_pos;          // (T, 3)
  torch::Tensor ee_ori;          // (T, 3)
  torch::Tensor object_states;   // (T, 41) privileged object state; undefined when absent
  torch::Tensor states;          // (T, S) simulator state
  torch::Tensor robot_states;    // (T, R)
  torch::Tensor rewards;         // (T)
  torch::Tensor dones;           // (T) uint8
  torch::Tensor init_state;      // (S)
  int64_t length() const { return actions.size(0); }
};

struct LiberoFile {
  std::string path;
  std::string language_instruction;
  std::string problem_info;       // raw json
  std::string env_args;           // raw json
  std::vector<LiberoDemo> demos;  // ordered by demo index
};

// reads the fields the policy trains on (actions, both cameras, ee_states, gripper_states) and
// checks shapes, lengths and finiteness. errors name the file and the dataset.
LiberoFile read_libero_file(const std::string& path);
// the same from the bytes of a whole file held in memory (hdf5's core driver); name stands in for
// the path in errors
LiberoFile read_libero_image(const std::string& bytes, const std::string& name);

// writes atomically (temp name + rename). problem_info must be json with language_instruction.
void write_libero_file(const std::string& path, const std::string& problem_info,
                       const std::string& env_args, const std::vector<LiberoDemo>& demos);

}  // namespace avla
