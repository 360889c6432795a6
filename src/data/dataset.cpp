#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "data/libero_file.h"
#include "data/object_state.h"
#include "data/observation.h"
#include "data/oxe_datasets.h"
#include "data/rlds.h"
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
  DatasetOptions o;
  o.image_size = config.model.image_size;
  o.chunk_len = config.model.chunk_len;
  o.pause_eps = config.train.pause_eps;
  o.state_dim = config.model.state_dim;
  o.n_cam = config.model.n_cam;
  return o;
}

DataSource parse_data_source(const std::string& spec) {
  // "PATH:WEIGHT" only when the suffix is a number and the whole spec is not itself a path
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0 || fs::exists(spec)) return {spec, 0.0};
  const std::string suffix = spec.substr(colon + 1);
  size_t used = 0;
  double weight = 0.0;
  try {
    weight = std::stod(suffix, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != suffix.size() || suffix.empty()) return {spec, 0.0};
  AVLA_CHECK(std::isfinite(weight) && weight > 0, "data",
             "'{}': the mixture weight {} must be a positive number", spec, suffix);
  return {spec.substr(0, colon), weight};
}

namespace {

// the frames of every episode as they are appended, then one concatenation
struct DatasetBuilder {
  explicit DatasetBuilder(const DatasetOptions& o) : options(o) {}
  const DatasetOptions& options;
  bool want_objects = false;
  int privileged = 0;
  Dataset ds;
  std::vector<torch::Tensor> images, state, actions, episode_of, pauses, objects;
  int64_t frame = 0;
  int64_t n_cam = -1;
  std::string n_cam_source;

  // cameras: per camera (T, H, W, 3) uint8; raw_state (T, 8) | object_states (T, object_state_dim)
  // or undefined
  void add(EpisodeInfo info, const std::vector<torch::Tensor>& cameras,
           const torch::Tensor& raw_state, const torch::Tensor& episode_actions,
           const torch::Tensor& object_states) {
    const int64_t T = episode_actions.size(0);
    const auto have = static_cast<int64_t>(cameras.size());
    AVLA_CHECK(options.n_cam <= have, "data", "{} has {} camera(s); the model reads {}",
               info.source, have, options.n_cam);
    const int64_t keep = options.n_cam >= 0 ? options.n_cam : have;
    if (n_cam < 0) n_cam = keep, n_cam_source = info.source;
    AVLA_CHECK(keep == n_cam, "data",
               "{} has {} camera(s) but {} has {}: every input of a run needs the same cameras",
               info.source, keep, n_cam_source, n_cam);
    info.start = frame;
    info.length = T;
    // the kept cameras at the model resolution: (T, n_cam, 3, S, S)
    const int64_t S = options.image_size;
    std::vector<torch::Tensor> cams;
    for (int64_t c = 0; c < keep; ++c)
      cams.push_back(resize_images(cameras[static_cast<size_t>(c)], S));
    images.push_back(keep > 0 ? torch::stack(cams, 1)
                              : torch::empty({T, 0, 3, S, S}, torch::kUInt8));
    std::vector<torch::Tensor> raw{raw_state};
    if (want_objects) {
      AVLA_CHECK(object_states.defined(), "data",
                 "{}: no obs/object_states, which a privileged-state run and the auxiliary "
                 "object loss need (files from `asyncvla sim collect` have them)",
                 info.source);
      AVLA_CHECK(object_states.size(1) == object_state_dim, "data",
                 "{}: obs/object_states has {} columns, expected {} (25 is the layout before "
                 "the yaw columns: collect the demonstrations again)",
                 info.source, object_states.size(1), object_state_dim);
      AVLA_CHECK(torch::isfinite(object_states).all().item<bool>(), "data",
                 "{}: obs/object_states has NaN or Inf", info.source);
      objects.push_back(object_states.to(torch::kFloat32));
      if (privileged > 0) raw.push_back(object_states);
    }
    state.push_back(observation_state_features(torch::cat(raw, 1)));
    actions.push_back(episode_actions.to(torch::kFloat32));
    pauses.push_back(pause_mask(episode_actions, options.pause_eps));
    episode_of.push_back(torch::full({T}, static_cast<int64_t>(ds.episodes.size()), torch::kInt64));
    ds.episodes.push_back(std::move(info));
    frame += T;
  }
};

void add_libero_files(DatasetBuilder& b, const std::vector<std::string>& files) {
  for (const auto& path : files) {
    LiberoFile file = read_libero_file(path);
    for (size_t i = 0; i < file.demos.size(); ++i) {
      const LiberoDemo& d = file.demos[i];
      b.add({path + ":data/demo_" + std::to_string(i), file.language_instruction, 0, 0},
            d.eye_in_hand_rgb.defined() ? std::vector{d.agentview_rgb, d.eye_in_hand_rgb}
                                        : std::vector{d.agentview_rgb},
            torch::cat({d.ee_states, d.gripper_states}, 1), d.actions, d.object_states);
    }
    log_info("[data] {}: {} demos, \"{}\"", path, file.demos.size(), file.language_instruction);
  }
}

void add_rlds_dataset(DatasetBuilder& b, const std::string& dir) {
  const RldsInfo info = read_rlds_info(dir);
  const OxeDataset& mapping = oxe_dataset(info.name, dir + "/dataset_info.json");
  int64_t added = 0, no_instruction = 0;
  for_each_rlds_episode(info, [&](RldsEpisode& ep) {
    OxeEpisode e = map_oxe_episode(mapping, info, ep);
    if (e.instruction.empty()) {
      ++no_instruction;  // the OXE mixture drops episodes without language too
      return;
    }
    b.add({ep.where, e.instruction, 0, 0}, e.cameras, e.raw_state, e.actions, torch::Tensor());
    ++added;
  });
  AVLA_CHECK(added > 0, "data", "{}: no episode with an instruction ({} without)", dir,
             no_instruction);
  log_info("[data] {}: RLDS dataset {} {}, {} episodes ({} without an instruction skipped)", dir,
           info.name, info.version, added, no_instruction);
}

}  // namespace

Dataset load_dataset(const std::vector<std::string>& inputs, const DatasetOptions& options) {
  AVLA_CHECK(!inputs.empty(), "data", "no data files given");
  DatasetBuilder b(options);
  b.privileged = privileged_dims(options.state_dim);
  b.want_objects = b.privileged > 0 || options.object_states;
  // each input, remembering its frames for the mixture weights
  std::vector<DataSource> sources;
  std::vector<int64_t> source_end;
  for (const auto& spec : inputs) {
    DataSource source = parse_data_source(spec);
    if (is_rlds_dir(source.path)) {
      add_rlds_dataset(b, source.path);
    } else {
      add_libero_files(b, expand_data_paths({source.path}));
    }
    sources.push_back(source);
    source_end.push_back(b.frame);
  }
  Dataset& ds = b.ds;
  const int64_t frame = b.frame;
  if (b.want_objects) ds.object_state = torch::cat(b.objects);
  ds.images = torch::cat(b.images);
  ds.state = torch::cat(b.state);
  ds.actions = torch::cat(b.actions);
  ds.pause = torch::cat(b.pauses);
  ds.frame_episode = torch::cat(b.episode_of);

  // the mixture: weights for all inputs or for none
  const auto n_weighted = std::count_if(sources.begin(), sources.end(),
                                        [](const DataSource& s) { return s.weight > 0; });
  AVLA_CHECK(n_weighted == 0 || n_weighted == static_cast<int64_t>(sources.size()), "data",
             "{} of {} --data inputs have a :WEIGHT; give one for every input or for none",
             n_weighted, sources.size());
  if (n_weighted > 0) {
    double total = 0;
    for (const auto& s : sources) total += s.weight;
    ds.frame_weight = torch::empty({frame}, torch::kFloat64);
    int64_t begin = 0;
    for (size_t i = 0; i < sources.size(); ++i) {
      const int64_t n = source_end[i] - begin;
      AVLA_CHECK(n > 0, "data", "--data '{}' has no frames", inputs[i]);
      ds.frame_weight.narrow(0, begin, n).fill_(sources[i].weight / total / n);
      log_info("[data] mixture: {} draws {:.1f} % of the frames ({} frames)", sources[i].path,
               100.0 * sources[i].weight / total, n);
      begin = source_end[i];
    }
  }

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
  log_info("[data] {} inputs, {} episodes, {} frames, {} pause frames", inputs.size(),
           ds.episodes.size(), frame, ds.pause.sum().item<int64_t>());
  return std::move(b.ds);
}

}  // namespace avla
