#include "io/tf_example.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "tf_example.pb.h"
#include "util/error.h"

namespace avla {

namespace pb = avla::tfexample;

size_t ExampleFeature::size() const {
  switch (kind) {
    case Kind::Bytes:
      return bytes.size();
    case Kind::Float:
      return floats.size();
    case Kind::Int64:
      return ints.size();
  }
  return 0;
}

const char* example_kind_name(ExampleFeature::Kind kind) {
  switch (kind) {
    case ExampleFeature::Kind::Bytes:
      return "bytes_list";
    case ExampleFeature::Kind::Float:
      return "float_list";
    case ExampleFeature::Kind::Int64:
      return "int64_list";
  }
  return "?";
}

Example parse_example(const std::string& record, const std::string& where) {
  pb::Example message;
  AVLA_CHECK(message.ParseFromString(record), "tf.Example",
             "{}: {} bytes are not a serialized tf.train.Example", where, record.size());
  Example out;
  for (const auto& [key, feature] : message.features().feature()) {
    ExampleFeature f;
    switch (feature.kind_case()) {
      case pb::Feature::kBytesList:
        f.kind = ExampleFeature::Kind::Bytes;
        f.bytes.assign(feature.bytes_list().value().begin(), feature.bytes_list().value().end());
        break;
      case pb::Feature::kFloatList:
        f.kind = ExampleFeature::Kind::Float;
        f.floats.assign(feature.float_list().value().begin(), feature.float_list().value().end());
        break;
      case pb::Feature::kInt64List:
        f.kind = ExampleFeature::Kind::Int64;
        f.ints.assign(feature.int64_list().value().begin(), feature.int64_list().value().end());
        break;
      default:
        fail("tf.Example", "{}: feature '{}' has no value list set", where, key);
    }
    out.emplace(key, std::move(f));
  }
  return out;
}

std::string encode_example(const Example& example) {
  pb::Example message;
  auto& features = *message.mutable_features()->mutable_feature();
  for (const auto& [key, f] : example) {
    pb::Feature& out = features[key];
    switch (f.kind) {
      case ExampleFeature::Kind::Bytes:
        out.mutable_bytes_list()->mutable_value()->Add(f.bytes.begin(), f.bytes.end());
        break;
      case ExampleFeature::Kind::Float:
        out.mutable_float_list()->mutable_value()->Add(f.floats.begin(), f.floats.end());
        break;
      case ExampleFeature::Kind::Int64:
        out.mutable_int64_list()->mutable_value()->Add(f.ints.begin(), f.ints.end());
        break;
    }
  }
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

const ExampleFeature& example_feature(const Example& example, const std::string& key,
                                      ExampleFeature::Kind kind, const std::string& where) {
  auto it = example.find(key);
  if (it == example.end()) {
    std::string keys;
    for (const auto& [k, f] : example) keys += (keys.empty() ? "" : ", ") + k;
    fail("tf.Example", "{}: no feature '{}' (it has: {})", where, key, keys);
  }
  AVLA_CHECK(it->second.kind == kind, "tf.Example", "{}: feature '{}' is a {}, expected a {}",
             where, key, example_kind_name(it->second.kind), example_kind_name(kind));
  return it->second;
}

}  // namespace avla
