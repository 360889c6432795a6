// fuzz targets: every parser that takes bytes from outside (files from elsewhere, the network).
// a target either accepts the bytes or refuses them with avla::Error; anything else is a finding:
// another exception, a crash, a sanitizer report, or a broken invariant of what it returned
// (checked here, aborting with a message). the same targets run two ways:
//   - as libFuzzer binaries (scripts/fuzz.sh, clang with ASan + UBSan): build-fuzz/fuzz_<name>
//   - in the normal test suite (tests/fuzz/fuzz_replay_test.cpp), which replays the committed
//     seeds (which must be accepted) and every regression input (which must not crash)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace avla::fuzz {

using NamedBytes = std::vector<std::pair<std::string, std::string>>;  // file name, bytes

struct Target {
  const char* name;
  const char* what;                               // the parser, for docs and logs
  bool (*run)(const uint8_t* data, size_t size);  // true: accepted, false: refused
  NamedBytes (*seeds)();                          // valid inputs made by the project's own writers
};

const std::vector<Target>& targets();
const Target& target(const std::string& name);  // throws std::invalid_argument on an unknown name

}  // namespace avla::fuzz
