#include "io/child_read.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "util/error.h"

// set by the sanitizer runtimes (libFuzzer writes a crash file through it); absent otherwise
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace avla {

namespace {

constexpr const char* kChildReadComponent = "hdf5";
constexpr uint64_t kTagResult = 0;
constexpr uint64_t kTagError = 1;
constexpr int kMaxRank = 8;
constexpr uint64_t kMaxFrameBytes = uint64_t{1} << 40;
// how the parent asks its child: the read's name in this variable, the socket at this descriptor
constexpr const char* kChildEnv = "ASYNCVLA_CHILD_READ";
constexpr int kChildFd = 3;
// the child's exit code when an allocation failed (its memory cap, or the machine's)
constexpr int kExitOutOfMemory = 5;

// the tensor dtypes a frame carries (0: an undefined tensor)
uint64_t dtype_code(const torch::Tensor& t) {
  if (!t.defined()) return 0;
  switch (t.scalar_type()) {
    case torch::kFloat64:
      return 1;
    case torch::kFloat32:
      return 2;
    case torch::kUInt8:
      return 3;
    case torch::kInt64:
      return 4;
    default:
      fail("child", "cannot send a tensor of dtype {}", c10::toString(t.scalar_type()));
  }
}

torch::ScalarType code_dtype(uint64_t code) {
  switch (code) {
    case 1:
      return torch::kFloat64;
    case 2:
      return torch::kFloat32;
    case 3:
      return torch::kUInt8;
    case 4:
      return torch::kInt64;
    default:
      fail("child", "tensor frame has dtype code {}", code);
  }
}

// seconds the child gets: ASYNCVLA_HDF5_GUARD_TIMEOUT, default 300 (a LIBERO file of a few GB
// reads in well under a minute from a local disk)
double child_timeout_s() {
  const char* value = std::getenv("ASYNCVLA_HDF5_GUARD_TIMEOUT");
  if (value == nullptr || *value == '\0') return 300.0;
  char* end = nullptr;
  const double seconds = std::strtod(value, &end);
  AVLA_CHECK(*end == '\0' && seconds > 0 && seconds <= 1e7, kChildReadComponent,
             "ASYNCVLA_HDF5_GUARD_TIMEOUT is '{}', expected a positive number of seconds (at most "
             "1e7)",
             value);
  return seconds;
}

// memory the child may add to what it holds at the start: ASYNCVLA_HDF5_GUARD_MEMORY_MB, default
// 8192 (a LIBERO file's decoded images are 1-2 GB; a corrupt one took libhdf5 to 23 GB)
double child_memory_mb() {
  const char* value = std::getenv("ASYNCVLA_HDF5_GUARD_MEMORY_MB");
  if (value == nullptr || *value == '\0') return 8192.0;
  char* end = nullptr;
  const double mb = std::strtod(value, &end);
  AVLA_CHECK(*end == '\0' && mb >= 1 && mb <= 1e8, kChildReadComponent,
             "ASYNCVLA_HDF5_GUARD_MEMORY_MB is '{}', expected a number of megabytes in [1, 1e8]",
             value);
  return mb;
}

// caps this process's address space at its current size plus budget_mb: an allocation past it
// fails (std::bad_alloc, or a libhdf5 error) instead of taking the machine's memory
void cap_address_space(double budget_mb) {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  if (!(statm >> pages)) return;  // no /proc: no cap
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0) return;
  const uint64_t cap = pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) +
                       static_cast<uint64_t>(budget_mb * 1e6);
  if (limit.rlim_max != RLIM_INFINITY && cap > limit.rlim_max) return;
  limit.rlim_cur = cap;
  ::setrlimit(RLIMIT_AS, &limit);
}

std::chrono::steady_clock::time_point deadline_after(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             std::chrono::duration<double>(seconds));
}

std::map<std::string, ChildRead>& child_reads() {
  static std::map<std::string, ChildRead> reads;
  return reads;
}

// this process's environment with the child's request added (and a stale one dropped)
std::vector<std::string> child_environment(const std::string& kind) {
  std::vector<std::string> env;
  const std::string prefix = std::string(kChildEnv) + "=";
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind(prefix, 0) != 0) env.emplace_back(*e);
  }
  env.push_back(prefix + kind);
  return env;
}

// starts this program afresh as the reading child, with `child_end` as its descriptor kChildFd
pid_t spawn_child(const std::string& kind, int child_end, const std::string& file) {
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, child_end, kChildFd);
  std::vector<std::string> env = child_environment(kind);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  // a program without the hook in its main() sees an unknown flag, not its usual arguments
  std::string exe = "/proc/self/exe", flag = "--asyncvla-child-read";
  std::array<char*, 3> argv{exe.data(), flag.data(), nullptr};
  pid_t pid = 0;
  const int err = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  AVLA_CHECK(err == 0, kChildReadComponent, "{}: cannot start the process that reads it ({})", file,
             std::strerror(err));
  return pid;
}

// waits for the child until the deadline, then kills it. returns its status, or nothing when it
// had to be killed at the deadline
std::optional<int> reap(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  int status = 0;
  std::chrono::milliseconds poll_every(1);
  while (true) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) return 0;  // not our child any more: nothing to report
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return std::nullopt;
    }
    std::this_thread::sleep_for(poll_every);
    poll_every = std::min(poll_every * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace

void ChildWriter::bytes(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    // a child that died is a write error here, not a SIGPIPE
    const ssize_t done = ::send(fd_, p, std::min<size_t>(n, size_t{1} << 20), MSG_NOSIGNAL);
    if (done < 0) {
      if (errno == EINTR) continue;
      fail("child", "cannot write to the other process ({})", std::strerror(errno));
    }
    p += done;
    n -= static_cast<size_t>(done);
  }
}

void ChildWriter::u64(uint64_t value) {
  bytes(&value, sizeof value);
}

void ChildWriter::string(const std::string& text) {
  u64(text.size());
  bytes(text.data(), text.size());
}

void ChildWriter::tensor(const torch::Tensor& t) {
  u64(dtype_code(t));
  if (!t.defined()) return;
  const torch::Tensor c = t.contiguous();
  u64(static_cast<uint64_t>(c.dim()));
  for (int64_t d : c.sizes()) u64(static_cast<uint64_t>(d));
  bytes(c.data_ptr(), c.nbytes());
}

void ChildReader::bytes(void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline_ - std::chrono::steady_clock::now())
                          .count();
    AVLA_CHECK(left > 0, "child", "the deadline passed with {} bytes still to come", n);
    pollfd ready{fd_, POLLIN, 0};
    const int polled = ::poll(&ready, 1, static_cast<int>(std::min<int64_t>(left, INT_MAX)));
    if (polled < 0 && errno != EINTR) fail("child", "poll failed ({})", std::strerror(errno));
    if (polled <= 0) continue;
    const ssize_t got = ::read(fd_, p, std::min<size_t>(n, size_t{1} << 20));
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fail("child", "cannot read from the other process ({})", std::strerror(errno));
    }
    AVLA_CHECK(got > 0, "child", "the stream ended with {} bytes still to come", n);
    p += got;
    n -= static_cast<size_t>(got);
  }
}

uint64_t ChildReader::u64() {
  uint64_t value = 0;
  bytes(&value, sizeof value);
  return value;
}

std::string ChildReader::string() {
  const uint64_t n = u64();
  AVLA_CHECK(n <= kMaxFrameBytes, "child", "string frame of {} bytes", n);
  std::string text(n, '\0');
  bytes(text.data(), n);
  return text;
}

torch::Tensor ChildReader::tensor() {
  const uint64_t code = u64();
  if (code == 0) return {};
  const torch::ScalarType dtype = code_dtype(code);
  const uint64_t rank = u64();
  AVLA_CHECK(rank <= kMaxRank, "child", "tensor frame of rank {}", rank);
  std::vector<int64_t> dims(rank);
  uint64_t total = c10::elementSize(dtype);
  for (auto& d : dims) {
    const uint64_t size = u64();
    AVLA_CHECK(size <= kMaxFrameBytes && !__builtin_mul_overflow(total, size, &total) &&
                   total <= kMaxFrameBytes,
               "child", "tensor frame of more than {} bytes", kMaxFrameBytes);
    d = static_cast<int64_t>(size);
  }
  torch::Tensor t = torch::empty(dims, torch::TensorOptions().dtype(dtype));
  bytes(t.data_ptr(), t.nbytes());
  return t;
}

namespace {

// the reading child's whole life: the request from fd, the read, the result (or the error) back
[[noreturn]] void serve_child(const std::string& kind, int fd) {
  // a crash here must stay a crash of this process (a forked copy inherits the parent's handlers,
  // and libFuzzer would write a crash file); a parent that stopped reading is a write error
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) ::signal(sig, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  if (&__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
  ChildWriter writer(fd);
  int code = 0;
  try {
    torch::set_num_threads(1);  // no openmp pool in a forked copy
    try {
      cap_address_space(child_memory_mb());
      ChildReader request(fd, deadline_after(child_timeout_s()));
      const auto read = child_reads().find(kind);
      AVLA_CHECK(read != child_reads().end(), "child", "this program has no read named '{}'", kind);
      const ChildSend send = read->second(request);
      writer.u64(kTagResult);
      send(writer);
    } catch (const Error& e) {
      // the same error in the parent: its component, and its message after "[component] "
      writer.u64(kTagError);
      writer.string(e.component());
      writer.string(std::string(e.what()).substr(e.component().size() + 3));
    }
  } catch (const std::bad_alloc&) {
    code = kExitOutOfMemory;
  } catch (...) {
    code = 4;
  }
  ::_exit(code);  // no atexit handlers (LeakSanitizer would report libhdf5's caches), no
                  // destructors of a forked parent's objects
}

int running_threads() {
  std::error_code err;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", err);
       !err && it != std::filesystem::directory_iterator(); it.increment(err)) {
    ++n;
  }
  return err ? 0 : n;
}

// the reading child: a forked copy when this process runs one thread (safe then, and far cheaper
// than loading LibTorch again: ~1 ms against ~0.4 s of CPU), else this program started afresh
pid_t start_child(const std::string& kind, int child_end, int parent_end, const std::string& file) {
  if (!child_read_forks()) return spawn_child(kind, child_end, file);
  const pid_t pid = ::fork();
  AVLA_CHECK(pid >= 0, kChildReadComponent, "{}: cannot start the process that reads it ({})", file,
             std::strerror(errno));
  if (pid == 0) {
    ::close(parent_end);
    serve_child(kind, child_end);
  }
  return pid;
}

}  // namespace

bool child_read_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("ASYNCVLA_HDF5_GUARD");
    return value == nullptr || std::string(value) != "0";
  }();
  return enabled;
}

bool child_read_forks() {
  return running_threads() == 1;
}

bool register_child_read(const std::string& kind, ChildRead read) {
  child_reads()[kind] = std::move(read);
  return true;
}

void serve_child_read_if_asked() {
  const char* asked = std::getenv(kChildEnv);
  if (asked == nullptr) return;
  const std::string kind = asked;
  ::unsetenv(kChildEnv);
  serve_child(kind, kChildFd);
}

void read_in_child(const std::string& file, const std::string& kind,
                   const std::function<void(ChildWriter&)>& request,
                   const std::function<void(ChildReader&)>& receive) {
  const double timeout_s = child_timeout_s();
  const double memory_mb = child_memory_mb();
  const std::chrono::steady_clock::time_point deadline = deadline_after(timeout_s);
  int ends[2];
  AVLA_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0, kChildReadComponent,
             "{}: cannot open a socket to read it ({})", file, std::strerror(errno));
  // the child's end moved above kChildFd, so that dup2 makes a new descriptor (which clears
  // close-on-exec) whatever numbers the socket got
  const int child_end = ::fcntl(ends[1], F_DUPFD_CLOEXEC, 10);
  ::close(ends[1]);
  pid_t pid = -1;
  try {
    AVLA_CHECK(child_end >= 0, kChildReadComponent, "{}: cannot set up the socket to read it ({})",
               file, std::strerror(errno));
    pid = start_child(kind, child_end, ends[0], file);
  } catch (...) {
    ::close(ends[0]);
    if (child_end >= 0) ::close(child_end);
    throw;
  }
  ::close(child_end);

  // the request (a send that makes no progress for timeout_s gives up: a child that stopped
  // reading), then the result, then the child's exit
  const auto send_us = std::max<int64_t>(1000, static_cast<int64_t>(timeout_s * 1e6));
  const timeval send_timeout{static_cast<time_t>(send_us / 1000000),
                             static_cast<suseconds_t>(send_us % 1000000)};
  ::setsockopt(ends[0], SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  std::optional<Error> child_error;
  std::string stream_error;
  try {
    ChildWriter writer(ends[0]);
    request(writer);
    ChildReader reader(ends[0], deadline);
    const uint64_t tag = reader.u64();
    if (tag == kTagError) {
      const std::string component = reader.string();
      child_error.emplace(component, reader.string());
    } else {
      AVLA_CHECK(tag == kTagResult, "child", "unknown frame tag {}", tag);
      receive(reader);
    }
  } catch (const Error& e) {
    stream_error = e.what();
  }
  ::close(ends[0]);
  const std::optional<int> status = reap(pid, deadline);
  if (!status) {
    fail(kChildReadComponent,
         "{}: the HDF5 library did not finish reading this file in {} s; the file is corrupt "
         "(or, if it is a very large file you trust, raise ASYNCVLA_HDF5_GUARD_TIMEOUT)",
         file, timeout_s);
  }
  if (WIFSIGNALED(*status)) {
    fail(kChildReadComponent,
         "{}: the HDF5 library crashed reading this file ({}); the file is corrupt", file,
         ::strsignal(WTERMSIG(*status)));
  }
  if (WIFEXITED(*status) && WEXITSTATUS(*status) == kExitOutOfMemory) {
    fail(kChildReadComponent,
         "{}: reading this file needed more than the {} MB the reading process may use; the file "
         "is corrupt (or, if it is a very large file you trust, raise "
         "ASYNCVLA_HDF5_GUARD_MEMORY_MB)",
         file, memory_mb);
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    fail(kChildReadComponent,
         "{}: the HDF5 library failed reading this file (exit {}); the file is corrupt", file,
         WIFEXITED(*status) ? WEXITSTATUS(*status) : -1);
  }
  if (!stream_error.empty()) {
    fail(kChildReadComponent, "{}: the process that read this file sent a broken result ({})", file,
         stream_error);
  }
  if (child_error) throw *child_error;
}

}  // namespace avla
