#include "io/tfrecord.h"

#include <array>
#include <cstring>

#include "io/atomic_file.h"
#include "util/error.h"

namespace avla {

namespace {

// the reflected Castagnoli polynomial, one table lookup per byte
constexpr uint32_t kCastagnoli = 0x82f63b78u;

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ kCastagnoli : c >> 1;
    table[i] = c;
  }
  return table;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint32_t read_u32_le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

void append_u64_le(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

void append_u32_le(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

}  // namespace

uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

uint32_t mask_crc32c(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::vector<std::string> parse_tfrecords(const std::string& bytes, const std::string& name) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t size = bytes.size();
  std::vector<std::string> records;
  size_t at = 0;
  while (at < size) {
    const size_t index = records.size();
    // header: length and its checksum
    AVLA_CHECK(size - at >= 12, "tfrecord",
               "{}: record {} at byte {} is torn: {} bytes left, a record header needs 12", name,
               index, at, size - at);
    const uint64_t length = read_u64_le(p + at);
    AVLA_CHECK(mask_crc32c(crc32c(p + at, 8)) == read_u32_le(p + at + 8), "tfrecord",
               "{}: record {} at byte {}: the length's checksum does not match (a corrupt "
               "header)",
               name, index, at);
    // data and its checksum, within the file
    AVLA_CHECK(length <= size - at - 12 && size - at - 12 - length >= 4, "tfrecord",
               "{}: record {} at byte {} is torn: it says {} data bytes, the file has {} left",
               name, index, at, length, size - at - 12);
    const uint8_t* data = p + at + 12;
    const size_t n = static_cast<size_t>(length);
    AVLA_CHECK(mask_crc32c(crc32c(data, n)) == read_u32_le(data + n), "tfrecord",
               "{}: record {} at byte {}: the data's checksum does not match ({} bytes)", name,
               index, at, n);
    records.emplace_back(reinterpret_cast<const char*>(data), n);
    at += 12 + n + 4;
  }
  return records;
}

std::vector<std::string> read_tfrecords(const std::string& path) {
  return parse_tfrecords(read_file(path), path);
}

std::string encode_tfrecords(const std::vector<std::string>& records) {
  std::string out;
  for (const auto& r : records) {
    std::string header;
    append_u64_le(header, r.size());
    out += header;
    append_u32_le(out, mask_crc32c(crc32c(reinterpret_cast<const uint8_t*>(header.data()), 8)));
    out += r;
    append_u32_le(out, mask_crc32c(crc32c(reinterpret_cast<const uint8_t*>(r.data()), r.size())));
  }
  return out;
}

void write_tfrecords(const std::string& path, const std::vector<std::string>& records) {
  write_file_atomic(path, encode_tfrecords(records));
}

}  // namespace avla
