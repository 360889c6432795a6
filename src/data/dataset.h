// the episode store: every demonstration of one or more LIBERO-layout files, flattened into
// frame tables at the model resolution, plus the chunk index of every frame:
// chunk l of frame t is frame t + l of the same episode (clamped at its last frame), valid only
// when t + l is inside the episode and is not a pause (near-zero motion, unchanged gripper).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/state_features.h"

namespace avla {

struct DatasetOptions {
  int image_size = 64;
  int chunk_len = 10;
  double pause_eps = 1e-3;
  // the model's state width: state_feature_dim, or + object_state_dim for a privileged-state run
  // (every demo must then have obs/object_states)
  int state_dim = state_feature_dim;
  // also keep obs/object_states in Dataset::object_state (the auxiliary object loss's targets;
  // every demo must then have them)
  bool object_states = false;
  // the cameras kept, the first ones of each input (0: none, a state-only model); -1: all of the
  // data's
  int n_cam = -1;
};

struct Config;
// the options a model of this config trains and is measured on: its image size, chunk length,
// state width and cameras, and the training's pause threshold (the trainer adds the object states
// its auxiliary loss needs, and lets a fresh run's cameras follow the data)
DatasetOptions dataset_options(const Config& config);

struct EpisodeInfo {
  std::string source;       // "<file>:data/demo_<i>", or "<shard>: record <i>" of an RLDS dataset
  std::string instruction;  // language_instruction of its file
  int64_t start = 0;        // first frame in the tables
  int64_t length = 0;
};

struct Dataset {
  std::vector<EpisodeInfo> episodes;
  torch::Tensor images;         // (N, n_cam, 3, S, S) uint8: agentview, eye_in_hand (n_cam 0:
                                //   an empty tensor, no pixels kept)
  torch::Tensor state;          // (N, state_dim) float32: state_features(ee_states | gripper_states
                                //   [| object_states])
  torch::Tensor actions;        // (N, 7) float32
  torch::Tensor frame_episode;  // (N) int64
  torch::Tensor chunk_index;    // (N, L) int64 frame ids of each frame's action chunk
  torch::Tensor chunk_valid;    // (N, L) bool
  torch::Tensor pause;          // (N) bool
  torch::Tensor object_state;   // (N, object_state_dim) float32 raw positions, or undefined when
                                //   neither a privileged state nor the auxiliary loss asked for it
  // (N) float64 sampling weight of each frame, summing to 1, for a weighted mixture of sources
  // (`--data PATH:WEIGHT`); undefined: frames are drawn uniformly
  torch::Tensor frame_weight;

  int64_t n_frames() const { return state.size(0); }
  std::vector<std::string> instructions() const;
};

// *.hdf5 files of a directory (sorted) or the files themselves.
std::vector<std::string> expand_data_paths(const std::vector<std::string>& inputs);

// one input of `--data`: "PATH" or "PATH:WEIGHT". PATH is an hdf5 file, a directory of them, or an
// RLDS dataset directory (data/rlds.h); WEIGHT > 0 is its share of the sampled frames
struct DataSource {
  std::string path;
  double weight = 0.0;  // 0: not given
};
DataSource parse_data_source(const std::string& spec);

// every episode of the inputs (DataSource specs). with weights (given for every input or for
// none), frames are drawn so that input i supplies weight_i / sum(weights) of them; without,
// uniformly over all frames. all inputs must give the same number of cameras
Dataset load_dataset(const std::vector<std::string>& inputs, const DatasetOptions& options);

// pause flags of one episode's actions (T, 7): |a[:6]| < eps and gripper equal to the previous.
torch::Tensor pause_mask(const torch::Tensor& actions, double eps);

}  // namespace avla
