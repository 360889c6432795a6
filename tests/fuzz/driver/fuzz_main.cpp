// libFuzzer entry for one target, picked at compile time (AVLA_FUZZ_TARGET, one binary each).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"
#include "io/child_read.h"

// libFuzzer calls this first: when this binary was started as a reading child (a guarded replay
// of the libero target reads in a child, io/child_read.h), it serves that read and exits
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  avla::serve_child_read_if_asked();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const avla::fuzz::Target& target = avla::fuzz::target(AVLA_FUZZ_TARGET);
  target.run(data, size);
  return 0;
}
