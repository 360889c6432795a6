#include "data/rlds.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/json_file.h"
#include "io/tfrecord.h"
#include "util/error.h"

namespace avla {

namespace fs = std::filesystem;
using nlohmann::json;

int64_t RldsFeature::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

ExampleFeature::Kind RldsFeature::kind() const {
  if (type != Type::Tensor || dtype == "string") return ExampleFeature::Kind::Bytes;
  if (dtype.rfind("float", 0) == 0 || dtype == "bfloat16") return ExampleFeature::Kind::Float;
  return ExampleFeature::Kind::Int64;  // ints and bools
}

const RldsFeature& RldsInfo::feature(const std::string& key) const {
  auto it = features.find(key);
  if (it == features.end()) {
    std::string keys;
    for (const auto& [k, f] : features) keys += (keys.empty() ? "" : ", ") + k;
    fail("rlds", "{}/features.json: dataset '{}' has no feature '{}' (it has: {})", dir, name, key,
         keys);
  }
  return it->second;
}

bool is_rlds_dir(const std::string& path) {
  return fs::is_directory(path) && fs::exists(fs::path(path) / "dataset_info.json") &&
         fs::exists(fs::path(path) / "features.json");
}

namespace {

// a json number or a string of one (TFDS writes int64 fields as strings)
int64_t json_int(const json& v, const std::string& where) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    size_t used = 0;
    int64_t out = 0;
    try {
      out = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    AVLA_CHECK(used == s.size() && !s.empty(), "rlds", "{}: '{}' is not an integer", where, s);
    return out;
  }
  fail("rlds", "{}: expected an integer, found {}", where, v.dump());
}

// walks a FeaturesDict, collecting its leaves under prefix
void collect_features(const json& node, const std::string& prefix, bool per_step,
                      const std::string& file, std::map<std::string, RldsFeature>& out) {
  const std::string where = file + ": feature '" + prefix + "'";
  AVLA_CHECK(node.is_object(), "rlds", "{} is not an object", where);
  if (node.contains("featuresDict")) {
    const json& features = node["featuresDict"].value("features", json::object());
    AVLA_CHECK(features.is_object(), "rlds", "{}: featuresDict.features is not an object", where);
    for (const auto& [name, child] : features.items()) {
      collect_features(child, prefix.empty() ? name : prefix + "/" + name, per_step, file, out);
    }
    return;
  }
  if (node.contains("sequence")) {
    AVLA_CHECK(!per_step, "rlds", "{}: a sequence inside a sequence is not supported", where);
    AVLA_CHECK(node["sequence"].contains("feature"), "rlds", "{}: sequence has no feature", where);
    collect_features(node["sequence"]["feature"], prefix, true, file, out);
    return;
  }
  RldsFeature f;
  f.key = prefix;
  f.per_step = per_step;
  const json* spec = nullptr;
  if (node.contains("image")) {
    f.type = RldsFeature::Type::Image;
    spec = &node["image"];
  } else if (node.contains("text")) {
    f.type = RldsFeature::Type::Text;
    f.dtype = "string";
  } else if (node.contains("tensor")) {
    spec = &node["tensor"];
    const std::string encoding = spec->value("encoding", "none");
    AVLA_CHECK(encoding == "none", "rlds",
               "{}: tensor encoding '{}' is not supported (only 'none', the TFDS default)", where,
               encoding);
  } else {
    fail("rlds", "{}: neither a featuresDict, a sequence, an image, a text nor a tensor", where);
  }
  if (spec != nullptr) {
    f.dtype = spec->value("dtype", "");
    AVLA_CHECK(!f.dtype.empty(), "rlds", "{}: no dtype", where);
    if (spec->contains("shape") && (*spec)["shape"].contains("dimensions")) {
      for (const auto& d : (*spec)["shape"]["dimensions"]) {
        const int64_t n = json_int(d, where + " shape");
        AVLA_CHECK(n > 0 || f.type == RldsFeature::Type::Image, "rlds",
                   "{}: dimension {} (unknown sizes are supported for images only)", where, n);
        f.shape.push_back(n);
      }
    }
  }
  out[f.key] = f;
}

}  // namespace

RldsInfo read_rlds_info(const std::string& dir, const std::string& split) {
  RldsInfo info;
  info.dir = dir;
  info.split = split;
  const std::string info_path = (fs::path(dir) / "dataset_info.json").string();
  const json meta = read_json_file(info_path, "rlds");
  AVLA_CHECK(meta.is_object() && meta.contains("name") && meta["name"].is_string(), "rlds",
             "{}: no 'name'", info_path);
  info.name = meta["name"].get<std::string>();
  info.version = meta.value("version", "");
  AVLA_CHECK(meta.contains("splits") && meta["splits"].is_array(), "rlds", "{}: no 'splits' list",
             info_path);
  const json* found = nullptr;
  std::string names;
  for (const auto& s : meta["splits"]) {
    const std::string n = s.value("name", "");
    names += (names.empty() ? "" : ", ") + n;
    if (n == split) found = &s;
  }
  AVLA_CHECK(found != nullptr, "rlds", "{}: no split '{}' (it has: {})", info_path, split, names);
  AVLA_CHECK(found->contains("shardLengths") && (*found)["shardLengths"].is_array() &&
                 !(*found)["shardLengths"].empty(),
             "rlds", "{}: split '{}' has no shardLengths", info_path, split);
  for (const auto& n : (*found)["shardLengths"]) {
    info.shard_lengths.push_back(json_int(n, info_path + " shardLengths"));
  }
  // shard file names from the split's template, TFDS's default when absent
  const std::string file_format = meta.value("fileFormat", "tfrecord");
  AVLA_CHECK(file_format == "tfrecord", "rlds", "{}: fileFormat '{}' (only tfrecord is read)",
             info_path, file_format);
  std::string tmpl =
      found->value("filepathTemplate", "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}");
  const int64_t n_shards = static_cast<int64_t>(info.shard_lengths.size());
  for (int64_t i = 0; i < n_shards; ++i) {
    std::string name = tmpl;
    auto replace = [&](const std::string& key, const std::string& value) {
      for (size_t at = name.find(key); at != std::string::npos; at = name.find(key)) {
        name.replace(at, key.size(), value);
      }
    };
    replace("{DATASET}", info.name);
    replace("{SPLIT}", split);
    replace("{FILEFORMAT}", file_format);
    replace("{SHARD_X_OF_Y}", fmt::format("{:05d}-of-{:05d}", i, n_shards));
    const std::string path = (fs::path(dir) / name).string();
    AVLA_CHECK(fs::exists(path), "rlds", "{}: shard {} of {} is missing: '{}'", dir, i, n_shards,
               path);
    info.shards.push_back(path);
  }
  // the features
  const std::string features_path = (fs::path(dir) / "features.json").string();
  const json features = read_json_file(features_path, "rlds");
  collect_features(features, "", false, features_path, info.features);
  return info;
}

namespace {

const ExampleFeature& step_feature(const RldsInfo& info, const RldsEpisode& ep,
                                   const std::string& key) {
  const RldsFeature& f = info.feature(key);
  AVLA_CHECK(f.per_step, "rlds", "{}: feature '{}' is not a step feature", ep.where, key);
  return example_feature(ep.example, key, f.kind(), ep.where);
}

}  // namespace

std::vector<double> RldsEpisode::numbers(const RldsInfo& info, const std::string& key) const {
  const ExampleFeature& f = step_feature(info, *this, key);
  AVLA_CHECK(f.kind != ExampleFeature::Kind::Bytes, "rlds", "{}: feature '{}' is not numeric",
             where, key);
  if (f.kind == ExampleFeature::Kind::Float) return {f.floats.begin(), f.floats.end()};
  return {f.ints.begin(), f.ints.end()};
}

const std::vector<std::string>& RldsEpisode::bytes(const RldsInfo& info,
                                                   const std::string& key) const {
  const ExampleFeature& f = step_feature(info, *this, key);
  AVLA_CHECK(f.kind == ExampleFeature::Kind::Bytes, "rlds", "{}: feature '{}' is not bytes", where,
             key);
  return f.bytes;
}

RldsEpisode parse_rlds_episode(const RldsInfo& info, const std::string& record,
                               const std::string& where) {
  RldsEpisode ep;
  ep.where = where;
  ep.example = parse_example(record, where);
  // every step feature of the spec is there, of its kind, with a count of n_steps * numel
  std::string first_key;
  bool counted = false;
  for (const auto& [key, f] : info.features) {
    const ExampleFeature& value = example_feature(ep.example, key, f.kind(), where);
    if (!f.per_step) continue;
    const int64_t per_step = f.kind() == ExampleFeature::Kind::Bytes ? 1 : f.numel();
    const int64_t n = static_cast<int64_t>(value.size());
    AVLA_CHECK(per_step > 0 && n % per_step == 0, "rlds",
               "{}: step feature '{}' has {} values, not a multiple of its {} per step", where, key,
               n, per_step);
    if (!counted) {
      ep.n_steps = n / per_step;
      first_key = key;
      counted = true;
    }
    AVLA_CHECK(n / per_step == ep.n_steps, "rlds",
               "{}: step feature '{}' has {} steps but '{}' has {}", where, key, n / per_step,
               first_key, ep.n_steps);
  }
  AVLA_CHECK(counted, "rlds", "{}: the dataset has no step features", where);
  return ep;
}

void for_each_rlds_episode(const RldsInfo& info, const std::function<void(RldsEpisode&)>& fn) {
  for (size_t s = 0; s < info.shards.size(); ++s) {
    const std::vector<std::string> records = read_tfrecords(info.shards[s]);
    AVLA_CHECK(static_cast<int64_t>(records.size()) == info.shard_lengths[s], "rlds",
               "{}: {} records, dataset_info.json says {}", info.shards[s], records.size(),
               info.shard_lengths[s]);
    for (size_t r = 0; r < records.size(); ++r) {
      RldsEpisode ep =
          parse_rlds_episode(info, records[r], fmt::format("{}: record {}", info.shards[s], r));
      fn(ep);
    }
  }
}

}  // namespace avla
