// TFRecord framing (io/tfrecord.h): the crc32c check value, files from an independent Python
// writer read back record for record, our writer's files are byte-identical to it, and every way
// a file breaks is one error naming the file, the record and its offset.
#include "io/tfrecord.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "test_util.h"

namespace avla {
namespace {

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

TEST(TfRecord, Crc32cHasItsCheckValue) {
  const std::string nine = "123456789";
  EXPECT_EQ(crc32c(reinterpret_cast<const uint8_t*>(nine.data()), nine.size()), 0xe3069283u);
  // continuing a crc over two pieces gives the crc of the whole
  const uint32_t first = crc32c(reinterpret_cast<const uint8_t*>(nine.data()), 4);
  EXPECT_EQ(crc32c(reinterpret_cast<const uint8_t*>(nine.data()) + 4, 5, first), 0xe3069283u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

TEST(TfRecord, FilesOfAnIndependentWriterReadBackAndOursAreTheSameBytes) {
  const std::string dir = test::temp_dir("tfrecord");
  std::string big(70000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) % 251);
  const std::vector<std::string> records = {"hello", "", std::string("\0\xff\x01", 3), big};
  std::string lines;
  for (const auto& r : records) lines += hex(r) + "\n";
  write_file_atomic(dir + "/records.hex", lines);
  const std::string cmd = "/usr/bin/python3 " + test::source_dir() +
                          "/tests/reference/tfrecord_writer.py " + dir + "/py.tfrecord " + dir +
                          "/records.hex";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_EQ(read_tfrecords(dir + "/py.tfrecord"), records);
  write_tfrecords(dir + "/ours.tfrecord", records);
  EXPECT_EQ(read_file(dir + "/ours.tfrecord"), read_file(dir + "/py.tfrecord"));
  EXPECT_EQ(read_tfrecords(dir + "/ours.tfrecord").size(), 4u);
  EXPECT_TRUE(parse_tfrecords("", "empty").empty());  // an empty shard holds no record
}

TEST(TfRecord, ABrokenFileIsOneErrorNamingTheFileRecordAndOffset) {
  const std::string good = encode_tfrecords({"first record", "second record"});
  const size_t second = 12 + 12 + 4;  // the second record's offset
  // a flipped data byte of the second record
  std::string flipped = good;
  flipped[second + 12 + 3] ^= 0x10;
  test::expect_error([&] { parse_tfrecords(flipped, "f.tfrecord"); },
                     {"[tfrecord]", "f.tfrecord", "record 1", "byte 28", "data's checksum"});
  // a flipped length byte: the length's own checksum catches it before the length is used
  std::string length = good;
  length[second] ^= 0x40;
  test::expect_error([&] { parse_tfrecords(length, "f.tfrecord"); },
                     {"[tfrecord]", "record 1", "byte 28", "length's checksum"});
  // cut inside the second record's data, and inside its header
  test::expect_error([&] { parse_tfrecords(good.substr(0, good.size() - 6), "f.tfrecord"); },
                     {"[tfrecord]", "record 1", "torn", "13 data bytes"});
  test::expect_error([&] { parse_tfrecords(good.substr(0, second + 5), "f.tfrecord"); },
                     {"[tfrecord]", "record 1", "torn", "5 bytes left"});
  // a length past the end with a valid checksum (a crafted header) is torn, not a huge read
  std::string crafted = encode_tfrecords({"x"});
  std::string header;
  for (int i = 0; i < 8; ++i) header.push_back(i == 5 ? '\x01' : '\0');
  crafted.replace(0, 8, header);
  const uint32_t c = mask_crc32c(crc32c(reinterpret_cast<const uint8_t*>(header.data()), 8));
  for (int i = 0; i < 4; ++i) crafted[8 + i] = static_cast<char>((c >> (8 * i)) & 0xff);
  test::expect_error([&] { parse_tfrecords(crafted, "f.tfrecord"); },
                     {"[tfrecord]", "record 0", "torn", "1099511627776 data bytes"});
  // a missing file names the path
  test::expect_error([] { read_tfrecords("/nonexistent/x.tfrecord"); },
                     {"/nonexistent/x.tfrecord"});
}

}  // namespace
}  // namespace avla
