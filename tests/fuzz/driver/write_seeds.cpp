// writes every target's seed inputs (made by the project's writers) to DIR/<target>/<name>:
// the committed corpus under tests/fuzz/corpus is this program's output.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fuzz/fuzz_targets.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  for (const auto& t : avla::fuzz::targets()) {
    const std::filesystem::path dir = std::filesystem::path(argv[1]) / t.name;
    std::filesystem::create_directories(dir);
    for (const auto& [name, bytes] : t.seeds()) {
      std::ofstream(dir / name, std::ios::binary) << bytes;
      std::printf("%s/%s: %zu bytes\n", t.name, name.c_str(), bytes.size());
    }
  }
  return 0;
}
