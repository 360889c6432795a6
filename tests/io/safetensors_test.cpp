#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <fstream>

#include "io/atomic_file.h"
#include "io/tensor_file.h"
#include "test_util.h"
#include "util/error.h"

namespace avla {
namespace {

using test::expect_error;

std::string valid_file_bytes() {
  float a[6] = {1, 2, 3, 4, 5, 6};
  int64_t b[2] = {7, -8};
  return serialize_safetensors(
      {{"a", DType::F32, {2, 3}, a, sizeof(a)}, {"b", DType::I64, {2}, b, sizeof(b)}},
      {{"k", "v"}});
}

std::string with_header(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

TEST(Safetensors, RoundTripIsExact) {
  SafeTensors st = SafeTensors::parse(valid_file_bytes(), "mem");
  EXPECT_EQ(st.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(st.info("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(st.metadata().at("k"), "v");
  const float* a = reinterpret_cast<const float*>(st.data("a"));
  EXPECT_EQ(a[5], 6.0f);
  const int64_t* b = reinterpret_cast<const int64_t*>(st.data("b"));
  EXPECT_EQ(b[1], -8);
}

TEST(Safetensors, TorchRoundTripIsBitExact) {
  std::string dir = test::temp_dir("st");
  TensorMap m{{"x", torch::randn({3, 5})},
              {"y", torch::randint(0, 255, {4}).to(torch::kUInt8)},
              {"z", torch::randn({2}).to(torch::kBFloat16)}};
  save_tensor_map(dir + "/t.safetensors", m);
  TensorMap back = load_tensor_map(dir + "/t.safetensors");
  ASSERT_EQ(back.size(), 3u);
  for (auto& [k, v] : m) EXPECT_TRUE(torch::equal(v, back[k])) << k;
}

TEST(Safetensors, TruncatedFileIsAnError) {
  std::string bytes = valid_file_bytes();
  expect_error([&] { SafeTensors::parse(bytes.substr(0, 5), "short.safetensors"); },
               {"[safetensors]", "short.safetensors", "at least 8"});
  expect_error([&] { SafeTensors::parse(bytes.substr(0, bytes.size() - 4), "cut.safetensors"); },
               {"cut.safetensors", "outside the data buffer"});
}

TEST(Safetensors, MetadataAloneIsReadFromTheHeader) {
  const std::string dir = test::temp_dir("st_meta");
  const float w[3] = {1, 2, 3};
  const std::string bytes =
      serialize_safetensors({{"w", DType::F32, {3}, w, sizeof(w)}}, {{"step", "1200"}, {"k", "v"}});
  write_file_atomic(dir + "/a.safetensors", bytes);
  const auto meta = read_safetensors_metadata(dir + "/a.safetensors");
  EXPECT_EQ(meta, SafeTensors::load(dir + "/a.safetensors").metadata());
  EXPECT_EQ(meta.at("step"), "1200");
  // the data is never read: a file whose data is cut short still gives its header's metadata
  write_file_atomic(dir + "/cut.safetensors", bytes.substr(0, bytes.size() - 4));
  EXPECT_EQ(read_safetensors_metadata(dir + "/cut.safetensors").at("k"), "v");
  // a broken header is the same error as a full load's
  write_file_atomic(dir + "/short.safetensors", bytes.substr(0, 20));
  expect_error(
      [&] { read_safetensors_metadata(dir + "/short.safetensors"); },
      {"[safetensors]", "short.safetensors", "points past the end of the file (20 bytes)"});
  expect_error([&] { read_safetensors_metadata(dir + "/none.safetensors"); },
               {"none.safetensors", "cannot read file"});
}

TEST(Safetensors, MetadataNumbersAreWholeStringsOrErrors) {
  const std::map<std::string, std::string> meta = {{"step", "1200"},
                                                   {"neg", "-3"},
                                                   {"tail", "12abc"},
                                                   {"blank", " 12"},
                                                   {"big", "99999999999999999999"},
                                                   {"empty", ""},
                                                   {"t", "2.5"},
                                                   {"inf", "inf"},
                                                   {"nan", "nan"},
                                                   {"sci", "1e3"}};
  EXPECT_EQ(metadata_int(meta, "step", "f").value(), 1200);
  EXPECT_EQ(metadata_int(meta, "neg", "f").value(), -3);
  EXPECT_FALSE(metadata_int(meta, "absent", "f").has_value());
  EXPECT_DOUBLE_EQ(metadata_double(meta, "t", "f").value(), 2.5);
  EXPECT_DOUBLE_EQ(metadata_double(meta, "sci", "f").value(), 1000.0);
  for (const char* key : {"tail", "blank", "big", "empty", "t"}) {
    expect_error([&] { metadata_int(meta, key, "x/train_state.safetensors"); },
                 {"[safetensors]", "x/train_state.safetensors", std::string("metadata ") + key,
                  "not an integer"});
  }
  for (const char* key : {"tail", "inf", "nan", "empty"}) {
    expect_error([&] { metadata_double(meta, key, "f"); },
                 {std::string("metadata ") + key, "not a finite number"});
  }
}

TEST(Safetensors, HeaderPastEndOfFileIsAnError) {
  std::string bytes = valid_file_bytes();
  bytes[0] = '\xff';
  bytes[1] = '\xff';
  bytes[2] = '\xff';
  expect_error([&] { SafeTensors::parse(bytes, "big.safetensors"); },
               {"big.safetensors", "points past the end"});
}

TEST(Safetensors, GarbledHeaderIsAnError) {
  expect_error([&] { SafeTensors::parse(with_header("{not json", ""), "g.safetensors"); },
               {"g.safetensors", "not valid JSON"});
  expect_error([&] { SafeTensors::parse(with_header("[1,2]", ""), "g.safetensors"); },
               {"expected a JSON object"});
  expect_error(
      [&] {
        SafeTensors::parse(
            with_header(R"({"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", "abcd"), "g");
      },
      {"tensor 'w'", "unknown dtype 'Q7'"});
  expect_error(
      [&] {
        SafeTensors::parse(
            with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd"), "g");
      },
      {"tensor 'w'", "holds 4 bytes, expected 8"});
}

TEST(Safetensors, OverlappingTensorsAreAnError) {
  expect_error(
      [&] {
        SafeTensors::parse(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                       std::string(12, '\0')),
                           "o.safetensors");
      },
      {"o.safetensors", "overlap"});
}

TEST(Safetensors, StrictLoadNamesTensorAndShapes) {
  std::string dir = test::temp_dir("strict");
  torch::nn::Linear lin(3, 2);
  save_tensor_map(dir + "/ok.safetensors", module_state(*lin));
  torch::nn::Linear other(3, 2);
  load_module_strict(*other, dir + "/ok.safetensors");
  EXPECT_TRUE(torch::equal(lin->weight, other->weight));

  save_tensor_map(dir + "/shape.safetensors",
                  {{"weight", torch::zeros({4, 4})}, {"bias", torch::zeros({2})}});
  expect_error([&] { load_module_strict(*other, dir + "/shape.safetensors"); },
               {"shape.safetensors", "tensor 'weight' has shape [4,4], expected [2,3]"});
  save_tensor_map(dir + "/missing.safetensors", {{"weight", torch::zeros({2, 3})}});
  expect_error([&] { load_module_strict(*other, dir + "/missing.safetensors"); },
               {"missing tensor 'bias'"});
  save_tensor_map(dir + "/extra.safetensors", {{"weight", torch::zeros({2, 3})},
                                               {"bias", torch::zeros({2})},
                                               {"stray", torch::zeros({1})}});
  expect_error([&] { load_module_strict(*other, dir + "/extra.safetensors"); },
               {"unexpected tensor 'stray'"});
  expect_error([&] { load_module_strict(*other, dir + "/nope.safetensors"); },
               {"nope.safetensors", "cannot read"});
}

TEST(AtomicFile, FailedWriteLeavesOldFileIntact) {
  std::string dir = test::temp_dir("atomic");
  write_file_atomic(dir + "/f.txt", "old");
  EXPECT_THROW(write_atomic_with(dir + "/f.txt",
                                 [](const std::string& tmp) {
                                   std::ofstream(tmp) << "half";
                                   throw std::runtime_error("interrupted");
                                 }),
               std::runtime_error);
  EXPECT_EQ(read_file(dir + "/f.txt"), "old");
  EXPECT_FALSE(std::filesystem::exists(dir + "/f.txt.tmp." + std::to_string(getpid())));
}

}  // namespace
}  // namespace avla
