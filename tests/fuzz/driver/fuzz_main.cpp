// libFuzzer entry for one target, picked at compile time (AVLA_FUZZ_TARGET, one binary each).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const avla::fuzz::Target& target = avla::fuzz::target(AVLA_FUZZ_TARGET);
  target.run(data, size);
  return 0;
}
