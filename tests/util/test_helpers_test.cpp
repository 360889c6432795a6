// what a test process leaves when it dies (a crash, ctest's timeout kill): its temporary
// directories, which the next test process sweeps, and no child: test::spawn_child's children die
// with it
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"

namespace avla {
namespace {

namespace fs = std::filesystem;

TEST(TempDir, ADeadProcessesDirectoryIsSweptAndALiveOnesIsKept) {
  // a pid that has run and exited: a child reaped at once
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  const fs::path dead =
      fs::temp_directory_path() / ("asyncvla_test_sweep_" + std::to_string(child));
  const fs::path live =
      fs::temp_directory_path() / ("asyncvla_test_sweep_" + std::to_string(::getpid()));
  fs::create_directories(dead / "sub");
  fs::create_directories(live);
  test::sweep_dead_temp_dirs();
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
  fs::remove_all(live);
}

TEST(ChildProcess, AChildDiesWithTheProcessThatStartedIt) {
  // a stand-in for a test process: it starts a long child, reports the child's pid, and dies
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::vector<std::string> args = {"/bin/sleep", "60"};
  const pid_t stand_in = ::fork();
  ASSERT_GE(stand_in, 0);
  if (stand_in == 0) {
    const pid_t child = test::spawn_child(args);
    (void)!::write(fds[1], &child, sizeof child);
    ::_exit(0);
  }
  pid_t child = -1;
  ASSERT_EQ(::read(fds[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(stand_in, nullptr, 0), stand_in);
  // the kernel kills the orphan at once; init (or a subreaper) reaps it
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ::kill(child, 0) != 0 && errno == ESRCH;
    if (!gone) {
      ::waitpid(child, nullptr, WNOHANG);  // reaps it if this process is the subreaper
      ::usleep(50000);
    }
  }
  EXPECT_TRUE(gone) << "the sleep child " << child << " outlived the process that started it";
  if (!gone) ::kill(child, SIGKILL);
}

}  // namespace
}  // namespace avla
