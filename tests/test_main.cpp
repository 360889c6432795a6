// the test binary's main: gtest's, after the hook that lets this binary serve as its own reading
// child (io/child_read.h: a read of an outside file starts this program afresh), and the fixture
// mode ctest runs once before the tests (`--make-fixtures=DIR`, tiny_policy.h). a test runs on one
// thread, so `ctest -j<cores>` does not oversubscribe the cores (a test that needs more sets them)
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstring>
#include <iostream>

#include "io/child_read.h"
#include "tiny_policy.h"

int main(int argc, char** argv) {
  avla::serve_child_read_if_asked();
  at::set_num_threads(1);
  const char* flag = "--make-fixtures=";
  if (argc == 2 && std::strncmp(argv[1], flag, std::strlen(flag)) == 0) {
    try {
      avla::test::make_fixtures(argv[1] + std::strlen(flag));
      return 0;
    } catch (const std::exception& e) {
      std::cerr << "test fixtures: " << e.what() << "\n";
      return 1;
    }
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
