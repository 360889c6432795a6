// the one observation path: raw observations (camera frames, the LIBERO robot state, the
// instruction) -> model inputs. training (the dataset and its chunk sampler), eval, infer and
// serve all call these functions, so that what a policy sees at run time is, bit for bit, what
// it was trained on (tests/data/observation_test.cpp holds one frame from an HDF5 file, from the
// simulator and from an openpi request to the same model inputs).
//   images: upright (H, W, 3) uint8 -> turned by the model's image_rotation (the rotation of the
//           frames it was trained on) -> (3, S, S) at the model resolution (bilinear, antialiased)
//   state:  raw (8 [+ object_state_dim]) -> rounded to float32 (what a client sends) -> features
//           (data/state_features.h) -> normalized by the checkpoint's statistics
//   text:   instruction -> word tokens, padded to max_text_len, and their mask
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "data/normalizer.h"
#include "model/config.h"
#include "model/tokenizer.h"
#include "model/vla.h"

namespace avla {

// one raw observation, as a robot, the simulator or a client gives it
struct Observation {
  std::vector<torch::Tensor> images;  // n_cam x (H, W, 3) uint8, upright: agentview, eye_in_hand
  torch::Tensor state;  // (8) raw LIBERO state: ee pos, ee axis-angle, fingers; a privileged-state
                        // checkpoint takes 8 + 41 (+ obs/object_states, data/object_state.h)
  std::string instruction;
};

struct LiberoDemo;
// the observation of frame t of a stored demonstration (its first n_cam cameras, ee_states |
// gripper_states), upright: image_rotation is the rotation of the stored frames (a checkpoint's
// config.model.image_rotation when it was trained on these files); privileged appends the demo's
// obs/object_states (an error when it has none)
Observation demo_observation(const LiberoDemo& demo, int64_t t, const std::string& instruction,
                             int image_rotation = 0, bool privileged = false, int n_cam = 2);

// an upright (H, W, 3) image turned by degrees (0 or 180): what a checkpoint trained on images of
// that rotation sees; its own inverse
torch::Tensor rotate_image(const torch::Tensor& image, int degrees);

// frames (N, H, W, 3) uint8 -> (N, 3, size, size) uint8 at the model resolution
torch::Tensor resize_images(const torch::Tensor& hwc, int size);

// raw states (..., 8 [+ object_state_dim]) of any float dtype -> features (..., state_dim)
// float32, computed from the float32-rounded raw values
torch::Tensor observation_state_features(const torch::Tensor& raw);

// an instruction's padded tokens: ids (1, T) int64 and mask (1, T) bool
std::pair<torch::Tensor, torch::Tensor> token_tensors(const TokenizedText& text);

// a checkpoint's observation encoder: a view of its model config, normalizer and tokenizer (it
// holds references, so it must not outlive them)
class ObservationEncoder {
 public:
  // source names the checkpoint in errors
  ObservationEncoder(const ModelConfig& config, const Normalizer& normalizer,
                     const Tokenizer& tokenizer, std::string source);
  // observations -> one model batch, row b from obs[b]; errors name the field
  ObservationBatch encode(const std::vector<Observation>& obs) const;
  // raw state (8 [+ privileged]) -> normalized features (state_dim); a feature more than
  // kMaxStateStds from the training mean (or not finite) is an error naming it
  torch::Tensor normalized_state(const torch::Tensor& raw) const;

  // a state feature this many of the checkpoint's standard deviations from its training mean is
  // another unit or a broken sensor, not an observation (a robot's own workspace stays within
  // tens); past float32's range it would also reach the model as Inf
  static constexpr double kMaxStateStds = 1000.0;

 private:
  const ModelConfig& config_;
  const Normalizer& normalizer_;
  const Tokenizer& tokenizer_;
  std::string source_;
};

}  // namespace avla
