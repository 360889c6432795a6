#include "data/vision_corpus.h"

#include <map>
#include <nlohmann/json.hpp>

#include "data/observation.h"
#include "data/vision_corpus_format.h"
#include "io/tensor_file.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

namespace {

torch::Tensor field(const TensorMap& tensors, const std::string& name, torch::ScalarType dtype,
                    const std::vector<int64_t>& shape, const std::string& path) {
  const auto it = tensors.find(name);
  AVLA_CHECK(it != tensors.end(), "corpus", "{}: no tensor '{}'", path, name);
  const torch::Tensor& t = it->second;
  AVLA_CHECK(t.scalar_type() == dtype && t.sizes() == torch::IntArrayRef(shape), "corpus",
             "{}: tensor '{}' is {} {}, expected {} {}", path, name, c10::toString(t.scalar_type()),
             c10::str(t.sizes()), c10::toString(dtype), c10::str(torch::IntArrayRef(shape)));
  if (t.is_floating_point()) {
    AVLA_CHECK(torch::isfinite(t).all().item<bool>(), "corpus", "{}: tensor '{}' holds NaN or Inf",
               path, name);
  }
  return t;
}

// the metadata entry key of a corpus file as a JSON list of T; what names the element kind in the
// error ("names", "integers")
template <typename T>
std::vector<T> metadata_list(const std::map<std::string, std::string>& meta, const std::string& key,
                             const std::string& path, const char* what) {
  try {
    return nlohmann::json::parse(meta.count(key) ? meta.at(key) : "").get<std::vector<T>>();
  } catch (const nlohmann::json::exception&) {
    fail("corpus", "{}: metadata '{}' is not a JSON list of {}", path, key, what);
  }
}

}  // namespace

VisionCorpus VisionCorpus::rows(int64_t begin, int64_t end) const {
  return index(torch::arange(begin, end, torch::kInt64));
}

VisionCorpus VisionCorpus::index(const torch::Tensor& ids) const {
  VisionCorpus c;
  c.slots = slots;
  c.slot_yaw_order = slot_yaw_order;
  c.images = images.index_select(0, ids);
  c.slot_present = slot_present.index_select(0, ids);
  c.slot_pos = slot_pos.index_select(0, ids);
  if (has_yaw()) c.slot_yaw = slot_yaw.index_select(0, ids);
  c.cabinet = cabinet.index_select(0, ids);
  c.drawer = drawer.index_select(0, ids);
  c.ee_pos = ee_pos.index_select(0, ids);
  c.ee_rot6 = ee_rot6.index_select(0, ids);
  c.gripper = gripper.index_select(0, ids);
  return c;
}

torch::Tensor VisionCorpus::mean_slot_pos() const {
  return (slot_pos * slot_present.unsqueeze(2)).sum(0) /
         slot_present.sum(0).clamp_min(1.0).unsqueeze(1);
}

torch::Tensor VisionCorpus::yaw_order_tensor() const {
  return torch::tensor(std::vector<float>(slot_yaw_order.begin(), slot_yaw_order.end()));
}

VisionCorpus VisionCorpus::yaw_in_grip_frame() const {
  AVLA_CHECK(has_yaw(), "corpus", "the grip-frame yaw needs yaw labels (a format-2 corpus)");
  VisionCorpus c = *this;
  // the closing axis's yaw psi from the grip rotation's first column; turn each slot's features
  // (sin a, cos a), a = k g, by -k psi
  torch::Tensor psi = torch::atan2(ee_rot6.select(1, 1), ee_rot6.select(1, 0));  // (N)
  torch::Tensor turn = psi.unsqueeze(1) * yaw_order_tensor().unsqueeze(0);       // (N, k)
  torch::Tensor s = slot_yaw.select(2, 0), co = slot_yaw.select(2, 1);
  c.slot_yaw = torch::stack(
      {s * torch::cos(turn) - co * torch::sin(turn), co * torch::cos(turn) + s * torch::sin(turn)},
      2);
  return c;
}

torch::Tensor quat_to_rot6(const torch::Tensor& quat) {
  torch::Tensor q = quat / quat.norm(2, 1, true);
  torch::Tensor w = q.select(1, 0), x = q.select(1, 1), y = q.select(1, 2), z = q.select(1, 3);
  // columns 0 and 1 of R(q)
  return torch::stack({1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y),
                       2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)},
                      1);
}

VisionCorpus load_vision_corpus(const std::vector<std::string>& files, int image_size) {
  AVLA_CHECK(!files.empty(), "corpus", "no corpus files given");
  VisionCorpus out;
  std::vector<torch::Tensor> images, present, pos, yaw, cabinet, drawer, ee_pos, ee_rot6, gripper;
  for (const auto& path : files) {
    std::map<std::string, std::string> meta;
    const TensorMap t = load_tensor_map(path, &meta);
    const std::string format = meta.count("format") ? meta.at("format") : "";
    AVLA_CHECK(format == vision_corpus_format || format == vision_corpus_format_v1, "corpus",
               "{}: metadata format is '{}', expected '{}' or '{}' (a file of `asyncvla sim "
               "corpus`)",
               path, format, vision_corpus_format, vision_corpus_format_v1);
    // every file with yaw labels or none: a mixed set would train the yaw heads on part of it
    const bool with_yaw = format == vision_corpus_format;
    AVLA_CHECK(path == files.front() || with_yaw == !yaw.empty(), "corpus",
               "{}: format '{}', but {} is '{}' (regenerate the older one with `sim corpus`)", path,
               format, files.front(), yaw.empty() ? vision_corpus_format_v1 : vision_corpus_format);
    const auto slots = metadata_list<std::string>(meta, "slots", path, "names");
    AVLA_CHECK(!slots.empty(), "corpus", "{}: no label slots", path);
    if (out.slots.empty()) out.slots = slots;
    AVLA_CHECK(slots == out.slots, "corpus",
               "{}: label slots {} differ from {}'s {} (corpora of other suites)", path,
               nlohmann::json(slots).dump(), files.front(), nlohmann::json(out.slots).dump());
    const auto img = t.find("images");
    AVLA_CHECK(
        img != t.end() && img->second.dim() == 5 &&
            (img->second.size(1) == 1 || img->second.size(1) == 2) && img->second.size(4) == 3,
        "corpus", "{}: tensor 'images' must be uint8 [N,C,S,S,3] with C 1 or 2 cameras", path);
    const int64_t n = img->second.size(0), c = img->second.size(1), s = img->second.size(2),
                  k = slots.size();
    AVLA_CHECK(n > 0, "corpus", "{}: no frames", path);
    AVLA_CHECK(images.empty() || images.front().size(1) == c, "corpus",
               "{}: {} camera(s) per frame, but {} has {} (corpora of other camera rigs)", path, c,
               files.front(), images.empty() ? 0 : images.front().size(1));
    field(t, "images", torch::kUInt8, {n, c, s, s, 3}, path);
    const torch::Tensor d = field(t, "drawer", torch::kFloat32, {n, 2}, path);
    // (N, C, S, S, 3) -> (CN, S, S, 3) -> (CN, 3, R, R) -> (N, C, 3, R, R)
    images.push_back(resize_images(img->second.reshape({c * n, s, s, 3}), image_size)
                         .view({n, c, 3, image_size, image_size}));
    present.push_back(field(t, "slot_present", torch::kUInt8, {n, k}, path).to(torch::kFloat32));
    pos.push_back(field(t, "slot_pos", torch::kFloat32, {n, k, 3}, path));
    if (with_yaw) {
      yaw.push_back(field(t, "slot_yaw", torch::kFloat32, {n, k, 2}, path));
      const auto order = metadata_list<int>(meta, "slot_yaw_order", path, "integers");
      AVLA_CHECK(order.size() == slots.size(), "corpus",
                 "{}: metadata 'slot_yaw_order' has {} entries for {} label slots", path,
                 order.size(), slots.size());
      out.slot_yaw_order = order;
    }
    cabinet.push_back(d.select(1, 0).contiguous());
    drawer.push_back(d.select(1, 1).contiguous());
    ee_pos.push_back(field(t, "ee_pos", torch::kFloat32, {n, 3}, path));
    ee_rot6.push_back(quat_to_rot6(field(t, "ee_quat", torch::kFloat32, {n, 4}, path)));
    gripper.push_back(field(t, "gripper", torch::kFloat32, {n, 2}, path).mean(1));
    log_info("[corpus] {}: {} frames at {} px, {} label slots", path, n, s, k);
  }
  out.images = torch::cat(images);
  out.slot_present = torch::cat(present);
  out.slot_pos = torch::cat(pos);
  if (!yaw.empty()) out.slot_yaw = torch::cat(yaw);
  out.cabinet = torch::cat(cabinet);
  out.drawer = torch::cat(drawer);
  out.ee_pos = torch::cat(ee_pos);
  out.ee_rot6 = torch::cat(ee_rot6);
  out.gripper = torch::cat(gripper);
  return out;
}

}  // namespace avla
