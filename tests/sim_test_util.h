// helpers the simulator tests share: an environment without cameras, and an image comparison.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sim/env.h"

namespace avla::test {

// experts, predicates and physics without rendering
inline sim::EnvConfig no_render() {
  sim::EnvConfig c;
  c.render = false;
  return c;
}

// bytes that differ between two images of one size (all of them when the sizes differ)
inline int differing_bytes(const std::vector<uint8_t>& x, const std::vector<uint8_t>& y) {
  if (x.size() != y.size()) return static_cast<int>(std::max(x.size(), y.size()));
  int n = 0;
  for (size_t i = 0; i < x.size(); ++i) n += x[i] != y[i];
  return n;
}

}  // namespace avla::test
