// the reading child's memory cap: a read that allocates past ASYNCVLA_HDF5_GUARD_MEMORY_MB ends
// as one error naming the file and the limit, whether the child is a forked copy or this program
// started afresh; a read within the cap gives its result.
#include "io/child_read.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <future>
#include <thread>

#include "test_util.h"

namespace avla {
namespace {

// a read for these tests only: allocates the requested bytes, touches every page, and sends
// back their sum (registered before main(), so a child started afresh has it too)
const bool registered = register_child_read("test_allocate", [](ChildReader& request) {
  const uint64_t bytes = request.u64();
  std::vector<uint8_t> block(bytes);
  for (size_t i = 0; i < block.size(); i += 4096) block[i] = 1;
  uint64_t sum = 0;
  for (size_t i = 0; i < block.size(); i += 4096) sum += block[i];
  return ChildSend([sum](ChildWriter& w) { w.u64(sum); });
});

uint64_t allocate_in_child(uint64_t bytes) {
  uint64_t sum = 0;
  read_in_child(
      "alloc.bin", "test_allocate", [&](ChildWriter& w) { w.u64(bytes); },
      [&](ChildReader& r) { sum = r.u64(); });
  return sum;
}

void expect_cap_holds() {
  // 64 MB fits the 256 MB the child may add; 1 GB does not
  EXPECT_EQ(allocate_in_child(64u << 20), (64u << 20) / 4096);
  test::expect_error(
      [] { allocate_in_child(uint64_t{1} << 30); },
      {"[hdf5]", "alloc.bin", "needed more than the 256 MB", "ASYNCVLA_HDF5_GUARD_MEMORY_MB"});
}

TEST(ChildRead, AReadPastTheMemoryCapIsOneErrorNamingTheFileAndTheLimit) {
  ASSERT_TRUE(registered);
  ASSERT_EQ(::setenv("ASYNCVLA_HDF5_GUARD_MEMORY_MB", "256", 1), 0);
  // a forked child (this process runs one thread)
  ASSERT_TRUE(child_read_forks());
  expect_cap_holds();
  // this program started afresh (a second thread runs)
  std::promise<void> stop;
  std::thread idle([done = stop.get_future()] { done.wait(); });
  EXPECT_FALSE(child_read_forks());
  expect_cap_holds();
  stop.set_value();
  idle.join();
  // without the variable the default leaves room for the 1 GB
  ::unsetenv("ASYNCVLA_HDF5_GUARD_MEMORY_MB");
  EXPECT_EQ(allocate_in_child(uint64_t{1} << 30), (uint64_t{1} << 30) / 4096);
  // a limit that is not a number is an error before any child starts
  ASSERT_EQ(::setenv("ASYNCVLA_HDF5_GUARD_MEMORY_MB", "lots", 1), 0);
  test::expect_error([] { allocate_in_child(1); },
                     {"[hdf5]", "ASYNCVLA_HDF5_GUARD_MEMORY_MB is 'lots'"});
  ::unsetenv("ASYNCVLA_HDF5_GUARD_MEMORY_MB");
}

}  // namespace
}  // namespace avla
