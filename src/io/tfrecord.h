// TFRecord files as TensorFlow (and TFDS, for RLDS datasets) writes them, no TensorFlow and no
// torch: a file is a sequence of records, each
//   uint64 length (little-endian) | uint32 masked crc32c of those 8 bytes | data | uint32 masked
//   crc32c of data
// with masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 and crc32c the Castagnoli CRC. reading
// checks both checksums of every record before its bytes are trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace avla {

// the Castagnoli CRC (crc32c) of n bytes, continuing from crc (0 to start)
uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc = 0);
// TFRecord's masked form of a crc32c
uint32_t mask_crc32c(uint32_t crc);

// every record of the file at path, in order. a torn record (the file ends inside one), a length
// or data checksum that does not match, or a length past the file's end is one avla::Error
// ("tfrecord") naming the file, the record's index and its byte offset
std::vector<std::string> read_tfrecords(const std::string& path);
// the same from bytes already in memory; name is used in error messages
std::vector<std::string> parse_tfrecords(const std::string& bytes, const std::string& name);

// the file's bytes for records (tests and tools; atomic like every write of ours)
std::string encode_tfrecords(const std::vector<std::string>& records);
void write_tfrecords(const std::string& path, const std::vector<std::string>& records);

}  // namespace avla
