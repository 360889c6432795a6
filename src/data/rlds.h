// RLDS datasets as TFDS writes them (the Open X-Embodiment format): a directory with
//   dataset_info.json   name, version, splits (each with shardLengths and a filepathTemplate)
//   features.json       the FeaturesDict: "steps" is a Dataset (sequence) of step features
//   NAME-SPLIT.tfrecord-NNNNN-of-MMMMM   TFRecord shards, one tf.train.Example per episode
// TFDS flattens an episode into one Example: nested keys joined by '/', and every step feature
// ("steps/observation/image") holds all steps' values in one list: n_steps encoded images or
// strings, or n_steps * prod(shape) numbers (floats in a float_list, ints and bools in an
// int64_list). this reader knows the format, not any dataset: data/oxe_datasets maps keys.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/tf_example.h"

namespace avla {

// one leaf of features.json, by its flattened key
struct RldsFeature {
  enum class Type { Tensor, Image, Text };
  std::string key;                    // "steps/observation/image_0"
  Type type = Type::Tensor;           // Scalar is a Tensor of shape []
  std::string dtype;                  // "float32", "bool", "string", "uint8" (images), ...
  std::vector<int64_t> shape;         // per step for step features; [] for scalars and text
  bool per_step = false;              // under "steps"
  int64_t numel() const;              // prod(shape)
  ExampleFeature::Kind kind() const;  // the Example list TFDS stores it in
};

struct RldsInfo {
  std::string dir, name, version, split;
  std::vector<std::string> shards;     // absolute paths, in shard order
  std::vector<int64_t> shard_lengths;  // episodes per shard, from dataset_info.json
  std::map<std::string, RldsFeature> features;
  const RldsFeature& feature(const std::string& key) const;  // error names the dataset and key
};

// a directory with dataset_info.json and features.json
bool is_rlds_dir(const std::string& path);

// reads dataset_info.json and features.json of dir and checks that every shard of the split is
// present. errors name the file and the field
RldsInfo read_rlds_info(const std::string& dir, const std::string& split = "train");

// one episode as stored: its Example and its step count, checked against every step feature
struct RldsEpisode {
  std::string where;  // "<shard>: record <i>"
  int64_t n_steps = 0;
  Example example;
  // the flat values of a numeric step feature, (n_steps * numel) as float64
  std::vector<double> numbers(const RldsInfo& info, const std::string& key) const;
  // the n_steps encoded images or strings of a bytes step feature
  const std::vector<std::string>& bytes(const RldsInfo& info, const std::string& key) const;
};

// parses one episode record; a step feature whose count disagrees with the others, or a feature
// missing from the record, is one avla::Error naming `where` and the key
RldsEpisode parse_rlds_episode(const RldsInfo& info, const std::string& record,
                               const std::string& where);

// calls fn on every episode of the split: shards in order, records in order (one shard in memory
// at a time). a shard whose record count differs from dataset_info.json is an error naming it
void for_each_rlds_episode(const RldsInfo& info, const std::function<void(RldsEpisode&)>& fn);

}  // namespace avla
