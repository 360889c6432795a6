// shared helpers for the tests: the tiny preset, random inputs, temporary directories.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "io/tensor_file.h"
#include "model/config.h"
#include "model/vla.h"
#include "util/error.h"

namespace avla::test {

inline std::string source_dir() {
  return ASYNCVLA_SOURCE_DIR;
}

inline Config tiny_config(int vocab_size = 12) {
  Config c = load_config(source_dir() + "/configs/tiny.json");
  c.model.vocab_size = vocab_size;
  return c;
}

// the asyncvla binary run with args: exit code and stdout + stderr
struct CliRun {
  int code = -1;
  std::string output;
};

inline CliRun run_cli(const std::string& args, int threads = 1) {
  const std::string cmd =
      std::string(ASYNCVLA_BINARY) + " --threads " + std::to_string(threads) + " " + args + " 2>&1";
  CliRun r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe) != nullptr) r.output += buf.data();
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// the temporary directories of this test process, removed when it exits (ctest runs each test in
// its own process, so a test's files live as long as the test)
struct TempDirs {
  std::vector<std::string> dirs;
  ~TempDirs() {
    std::error_code ignored;
    for (const auto& d : dirs) std::filesystem::remove_all(d, ignored);
  }
};
inline TempDirs& temp_dirs() {
  static TempDirs dirs;
  return dirs;
}

// a child process (args[0] an absolute path) that cannot outlive this test process: when a crash
// or ctest's timeout kills the test, the kernel kills the child too (PR_SET_PDEATHSIG, tied to
// the calling thread: call it from the test's own thread). stdout and stderr go to log if given;
// the parent creates it, so it exists even when the child is killed before it runs.
// between fork and exec the child makes only async-signal-safe calls
inline pid_t spawn_child(const std::vector<std::string>& args, const std::string& log = "") {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int log_fd = -1;
  if (!log.empty()) {
    log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_GE(log_fd, 0) << "cannot create " << log;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before the prctl
    if (!log.empty()) {
      if (log_fd < 0) ::_exit(127);
      ::dup2(log_fd, 1);  // the copies do not inherit O_CLOEXEC
      ::dup2(log_fd, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  EXPECT_GT(pid, 0) << "fork for " << args[0];
  return pid;
}

// kills (SIGKILL) and reaps a child on every way out of a test (a failed ASSERT returns early),
// unless the test reaped it itself and said so with release()
struct ChildGuard {
  pid_t pid = -1;
  explicit ChildGuard(pid_t p) : pid(p) {}
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  ~ChildGuard() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  void release() { pid = -1; }
};

// the directories that test processes which died (a crash, a ctest timeout's kill) left behind:
// asyncvla_test_<name>_<pid> whose pid no longer runs. swept once by each test process
inline void sweep_dead_temp_dirs() {
  std::error_code ignored;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::temp_directory_path(), ignored)) {
    const std::string name = entry.path().filename().string();
    const auto underscore = name.rfind('_');
    if (name.rfind("asyncvla_test_", 0) != 0 || underscore == std::string::npos) continue;
    const std::string pid_text = name.substr(underscore + 1);
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (::kill(pid, 0) != 0 && errno == ESRCH) std::filesystem::remove_all(entry.path(), ignored);
  }
}

// a fresh empty directory under the system temp dir, removed when the test process exits (and by
// a later test process if this one dies first)
inline std::string temp_dir(const std::string& name) {
  static const bool swept = (sweep_dead_temp_dirs(), true);
  (void)swept;
  auto dir = std::filesystem::temp_directory_path() /
             ("asyncvla_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  temp_dirs().dirs.push_back(dir.string());
  return dir.string();
}

// a random observation batch for cfg; row b has 3 + b real text tokens
inline ObservationBatch random_observation(const ModelConfig& cfg, int64_t B, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  ObservationBatch obs;
  obs.images =
      torch::randint(0, 256, {B, cfg.n_cam, 3, cfg.image_size, cfg.image_size}, gen, torch::kInt64)
          .to(torch::kUInt8);
  obs.state = torch::randn({B, cfg.state_dim}, gen);
  obs.tokens = torch::randint(2, cfg.vocab_size, {B, cfg.max_text_len}, gen, torch::kInt64);
  obs.token_mask = torch::zeros({B, cfg.max_text_len}, torch::kBool);
  for (int64_t b = 0; b < B; ++b) {
    int64_t n = std::min<int64_t>(cfg.max_text_len, 3 + b);
    obs.token_mask[b].narrow(0, 0, n).fill_(true);
    obs.tokens[b].narrow(0, n, cfg.max_text_len - n).fill_(0);
  }
  return obs;
}

// expects fn to throw avla::Error whose message contains every needle
template <typename Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected an avla::Error";
  } catch (const Error& e) {
    for (const auto& n : needles) {
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "'" << n << "' not in: " << e.what();
    }
  }
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// largest difference between two runs' float tensors (weights, adam moments); infinity if a
// tensor is missing, has another shape, or an integer tensor (generator bytes, adam step) differs
inline double run_difference(const std::string& a, const std::string& b,
                             const std::vector<std::string>& files = {"/model.safetensors",
                                                                      "/train_state.safetensors"}) {
  double worst = 0.0;
  for (const std::string& file : files) {
    TensorMap ta = load_tensor_map(a + file), tb = load_tensor_map(b + file);
    if (ta.size() != tb.size()) return INFINITY;
    for (auto& [k, v] : ta) {
      auto it = tb.find(k);
      if (it == tb.end() || it->second.sizes() != v.sizes()) return INFINITY;
      if (torch::equal(v, it->second)) continue;
      if (!v.is_floating_point()) return INFINITY;
      worst = std::max(worst, max_abs_diff(v, it->second));
    }
  }
  return worst;
}

}  // namespace avla::test
