// tf.train.Example records (the payload of a TFDS / RLDS TFRecord shard), parsed with Debian's
// libprotobuf from our own proto/tf_example.proto (TensorFlow's field numbers). the parsed form is
// plain C++: no protobuf type leaves io/tf_example.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace avla {

// one feature of an Example: exactly one of its three lists is the kind
struct ExampleFeature {
  enum class Kind { Bytes, Float, Int64 };
  Kind kind = Kind::Bytes;
  std::vector<std::string> bytes;
  std::vector<float> floats;
  std::vector<int64_t> ints;

  size_t size() const;  // entries of its kind's list
};

const char* example_kind_name(ExampleFeature::Kind kind);  // "bytes_list", "float_list", ...

// feature key -> value, sorted by key
using Example = std::map<std::string, ExampleFeature>;

// parses one serialized tf.train.Example. bytes that are not one, or a feature with no kind set,
// is one avla::Error("tf.Example") naming `where` (a file and record index)
Example parse_example(const std::string& record, const std::string& where);

// the serialized bytes of an Example (deterministic: keys in order), for tests and fuzz seeds
std::string encode_example(const Example& example);

// the feature `key` of kind `kind`; a missing key or another kind is one avla::Error naming
// `where`, the key and the kinds the example has
const ExampleFeature& example_feature(const Example& example, const std::string& key,
                                      ExampleFeature::Kind kind, const std::string& where);

}  // namespace avla
