#include "util/shape_bytes.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace avla {
namespace {

TEST(ShapeBytes, CountsBytesAndRefusesWhatNoTensorCanHold) {
  EXPECT_EQ(shape_bytes({2, 3}, 4), 24u);
  EXPECT_EQ(shape_bytes({}, 8), 8u);  // a scalar
  EXPECT_EQ(shape_bytes({5, 0, 7}, 4), 0u);
  EXPECT_EQ(shape_bytes({2, -1}, 1), std::nullopt);
  // the largest LibTorch can size, and one element past it
  EXPECT_EQ(shape_bytes({INT64_MAX}, 1), static_cast<uint64_t>(INT64_MAX));
  EXPECT_EQ(shape_bytes({int64_t{1} << 62, 2}, 1), std::nullopt);
  EXPECT_EQ(shape_bytes({int64_t{1} << 61, 2}, 4), std::nullopt);
  // fuzz_libero found [3, 9222772664260558856, 0, 3]: empty, but LibTorch multiplies in order and
  // refuses it, so it is refused here too rather than counted as 0 bytes
  EXPECT_EQ(shape_bytes({3, 9222772664260558856, 0, 3}, 1), std::nullopt);
  EXPECT_EQ(shape_bytes({0, 9222772664260558856, 3}, 1), std::nullopt);
  EXPECT_EQ(shape_bytes({0, 1000, 3}, 1), 0u);
}

}  // namespace
}  // namespace avla
