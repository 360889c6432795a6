#include "data/dataset.h"

#include <algorithm>
#include <filesystem>

#include "data/libero_file.h"
#include "data/object_state.h"
#include "data/observation.h"
#include "data/state_features.h"
#include "model/config.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

namespace fs = std::filesystem;

std::vector<std::string> Dataset::instructions() const {
  std::vector<std::string> out;
  for (const auto& e : episodes) out.push_back(e.instruction);
  return out;
}

std::vector<std::string> expand_data_paths(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    AVLA_CHECK(fs::exists(input), "data", "'{}' does not exist", input);
    if (fs::is_directory(input)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(input)) {
        if (entry.is_regular_file() && entry.path().extension() == ".hdf5") {
          found.push_back(entry.path().string());
        }
      }
      std::sort(found.begin(), found.end());
      AVLA_CHECK(!found.empty(), "data", "directory '{}' holds no .hdf5 files", input);
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(input);
    }
  }
  return files;
}

torch::Tensor pause_mask(const torch::Tensor& actions, double eps) {
  torch::Tensor motion = actions.narrow(1, 0, 6).norm(2, 1);  // (T)
  torch::Tensor grip = actions.select(1, 6);
  torch::Tensor prev = torch::cat({grip.narrow(0, 0, 1), grip.narrow(0, 0, grip.size(0) - 1)});
  return (motion < eps).logical_and(grip == prev);
}

DatasetOptions dataset_options(const Config& config) {
  return {config.model.image_size, config.model.chunk_len, config.train.pause_eps,
          config.model.state_dim};
}

Dataset load_dataset(const std::vector<std::string>& files, const DatasetOptions& options) {
  AVLA_CHECK(!files.empty(), "data", "no data files given");
  const int privileged = privileged_dims(options.state_dim);
  const bool want_objects = privileged > 0 || options.object_states;
  Dataset ds;
  std::vector<torch::Tensor> images, state, actions, episode_of, pauses, objects;
  int64_t frame = 0;
  for (const auto& path : files) {
    LiberoFile file = read_libero_file(path);
    for (size_t i = 0; i < file.demos.size(); ++i) {
      const LiberoDemo& d = file.demos[i];
      const int64_t T = d.length();
      EpisodeInfo info{path + ":data/demo_" + std::to_string(i), file.language_instruction, frame,
                       T};
      // both cameras at the model resolution: (T, 2, 3, S, S)
      images.push_back(torch::stack({resize_images(d.agentview_rgb, options.image_size),
                                     resize_images(d.eye_in_hand_rgb, options.image_size)},
                                    1));
      std::vector<torch::Tensor> raw{d.ee_states, d.gripper_states};
      if (want_objects) {
        AVLA_CHECK(d.object_states.defined(), "data",
                   "{}: no obs/object_states, which a privileged-state run and the auxiliary "
                   "object loss need (files from `asyncvla sim collect` have them)",
                   info.source);
        AVLA_CHECK(d.object_states.size(1) == object_state_dim, "data",
                   "{}: obs/object_states has {} columns, expected {}", info.source,
                   d.object_states.size(1), object_state_dim);
        AVLA_CHECK(torch::isfinite(d.object_states).all().item<bool>(), "data",
                   "{}: obs/object_states has NaN or Inf", info.source);
        objects.push_back(d.object_states.to(torch::kFloat32));
        if (privileged > 0) raw.push_back(d.object_states);
      }
      state.push_back(observation_state_features(torch::cat(raw, 1)));
      actions.push_back(d.actions.to(torch::kFloat32));
      pauses.push_back(pause_mask(d.actions, options.pause_eps));
      episode_of.push_back(
          torch::full({T}, static_cast<int64_t>(ds.episodes.size()), torch::kInt64));
      ds.episodes.push_back(info);
      frame += T;
    }
    log_info("[data] {}: {} demos, \"{}\"", path, file.demos.size(), file.language_instruction);
  }
  if (want_objects) ds.object_state = torch::cat(objects);
  ds.images = torch::cat(images);
  ds.state = torch::cat(state);
  ds.actions = torch::cat(actions);
  ds.pause = torch::cat(pauses);
  ds.frame_episode = torch::cat(episode_of);

  // chunk tables: frame t -> frames t..t+L-1 of its episode
  const int64_t L = options.chunk_len;
  ds.chunk_index = torch::empty({frame, L}, torch::kInt64);
  ds.chunk_valid = torch::empty({frame, L}, torch::kBool);
  auto idx = ds.chunk_index.accessor<int64_t, 2>();
  auto valid = ds.chunk_valid.accessor<bool, 2>();
  auto paused = ds.pause.accessor<bool, 1>();
  for (const auto& e : ds.episodes) {
    const int64_t last = e.start + e.length - 1;
    for (int64_t t = e.start; t <= last; ++t) {
      for (int64_t l = 0; l < L; ++l) {
        const int64_t f = t + l;
        idx[t][l] = std::min(f, last);
        valid[t][l] = f <= last && !paused[std::min(f, last)];
      }
    }
  }
  log_info("[data] {} files, {} episodes, {} frames, {} pause frames", files.size(),
           ds.episodes.size(), frame, ds.pause.sum().item<int64_t>());
  return ds;
}

}  // namespace avla
