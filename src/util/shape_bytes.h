#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace avla {

// bytes of a tensor of `shape` with `itemsize`-byte elements, for sizes read from outside bytes
// (a file's dataspace, a message's ndarray): 0 when a dim is 0, nullopt when a dim is negative or
// the other dims' product (times itemsize) passes INT64_MAX. LibTorch refuses such a shape even
// with a 0 in it (its size check multiplies in order), so an empty tensor is no exception here.
inline std::optional<uint64_t> shape_bytes(const std::vector<int64_t>& shape, uint64_t itemsize) {
  uint64_t bytes = itemsize;
  bool empty = false;
  for (const int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes) ||
        bytes > static_cast<uint64_t>(INT64_MAX)) {
      return std::nullopt;
    }
  }
  return empty ? uint64_t{0} : bytes;
}

}  // namespace avla
