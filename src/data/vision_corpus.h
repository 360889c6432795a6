// the vision corpus as training tensors (files written by `asyncvla sim corpus`, format in
// docs/FORMATS.md): images at the model resolution and the privileged labels the pretraining
// heads regress. every file is validated before its numbers are used.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace avla {

struct VisionCorpus {
  std::vector<std::string> slots;  // label slot names ("red_cube#0"), the same in every file
  torch::Tensor images;            // (N, C, 3, S, S) uint8 at the model resolution: agentview (and
                                   // the wrist camera when C is 2)
  torch::Tensor slot_present;      // (N, n_slot) float32 0/1
  torch::Tensor slot_pos;          // (N, n_slot, 3) float32 world positions, m (0 where absent)
  torch::Tensor slot_yaw;          // (N, n_slot, 2) float32 yaw features (sim::yaw_features; 0
                                   // where absent); undefined for version-1 files
  torch::Tensor cabinet;           // (N) float32 0/1
  torch::Tensor drawer;            // (N) float32 drawer opening, m
  torch::Tensor ee_pos;            // (N, 3) float32 grip site, m
  torch::Tensor ee_rot6;           // (N, 6) float32 first two columns of the grip rotation matrix
  torch::Tensor gripper;           // (N) float32 mean finger opening, m

  int64_t n_frames() const { return images.size(0); }
  int n_slot() const { return static_cast<int>(slots.size()); }
  int n_cam() const { return static_cast<int>(images.size(1)); }
  bool has_yaw() const { return slot_yaw.defined(); }
  std::vector<int> slot_yaw_order;  // (n_slot) each slot's symmetry order k (4 cube, 2 lying, 0
                                    // round); empty for version-1 files
  torch::Tensor yaw_order_tensor() const;               // slot_yaw_order as (n_slot) float32
  VisionCorpus rows(int64_t begin, int64_t end) const;  // frames [begin, end)
  VisionCorpus index(const torch::Tensor& ids) const;   // frames ids (B) int64
  // each slot's mean position over the frames that hold it: (n_slot, 3), 0 for an unused slot
  torch::Tensor mean_slot_pos() const;
  // the same frames with each object's yaw features turned into the grip's frame: its yaw minus
  // the yaw of the fingers' closing axis (the grip site's x), which is what the wrist camera sees
  // and what a grasp has to match. needs yaw labels
  VisionCorpus yaw_in_grip_frame() const;
};

// reads and concatenates corpus files; images are resized to image_size. errors name the file
// and the field (a wrong format tag, mismatched slots or shapes, non-finite labels)
VisionCorpus load_vision_corpus(const std::vector<std::string>& files, int image_size);

// unit quaternions (N, 4) w, x, y, z -> the first two columns of their rotation matrices (N, 6)
torch::Tensor quat_to_rot6(const torch::Tensor& quat);

}  // namespace avla
