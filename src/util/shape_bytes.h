#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace avla {

// bytes of a tensor of `shape` with `itemsize`-byte elements, for sizes read from outside bytes
// (a file's dataspace, a message's ndarray): 0 when a dim is 0, nullopt when the product
// overflows 64 bits
inline std::optional<uint64_t> shape_bytes(const std::vector<int64_t>& shape, uint64_t itemsize) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return uint64_t{0};
  uint64_t bytes = itemsize;
  for (const int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
      return std::nullopt;
    }
  }
  return bytes;
}

}  // namespace avla
