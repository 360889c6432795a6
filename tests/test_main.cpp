// the test binary's main: gtest's, after the hook that lets this binary serve as its own reading
// child (io/child_read.h: a read of an outside file starts this program afresh)
#include <gtest/gtest.h>

#include "io/child_read.h"

int main(int argc, char** argv) {
  avla::serve_child_read_if_asked();
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
