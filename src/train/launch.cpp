#include "train/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "util/error.h"
#include "util/log.h"

namespace avla {

namespace {

volatile std::sig_atomic_t g_launcher_signal = 0;

void remember_signal(int sig) {
  g_launcher_signal = sig;
}

}  // namespace

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  AVLA_CHECK(fd >= 0, "launch", "socket(): {}", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  AVLA_CHECK(ok, "launch", "cannot find a free loopback port: {}", std::strerror(errno));
  return ntohs(addr.sin_port);
}

namespace {

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
  }
  return "stopped";
}

}  // namespace

std::vector<std::string> without_nproc(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--nproc") {
      ++i;  // and its value
    } else if (argv[i].rfind("--nproc=", 0) != 0) {
      out.push_back(argv[i]);
    }
  }
  return out;
}

int launch_local_ranks(const std::vector<std::string>& argv, int nproc) {
  AVLA_CHECK(nproc >= 1, "launch", "--nproc {} must be >= 1", nproc);
  AVLA_CHECK(!std::getenv("RANK"), "launch",
             "--nproc inside a rank (RANK is set): launch either with --nproc or with torchrun's "
             "variables, not both");
  // the children's command line: this binary, --threads cores/N unless given, the rest of argv
  std::vector<std::string> args{"/proc/self/exe"};
  const bool has_threads = std::any_of(argv.begin(), argv.end(), [](const std::string& a) {
    return a == "--threads" || a.rfind("--threads=", 0) == 0;
  });
  if (!has_threads) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    args.push_back("--threads");
    args.push_back(std::to_string(std::max(1u, cores / static_cast<unsigned>(nproc))));
  }
  const std::vector<std::string> rest = without_nproc(argv);
  args.insert(args.end(), rest.begin() + 1, rest.end());
  std::vector<char*> c_args;
  for (auto& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);

  const char* port_env = std::getenv("MASTER_PORT");
  const std::string port = port_env && *port_env ? port_env : std::to_string(free_loopback_port());
  const char* addr_env = std::getenv("MASTER_ADDR");
  const std::string addr = addr_env && *addr_env ? addr_env : "127.0.0.1";
  log_info("[launch] {} ranks on {}:{}", nproc, addr, port);

  struct sigaction action {};
  action.sa_handler = remember_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  // posix_spawn, not fork: this process already runs threads (OpenMP, LibTorch), and a forked
  // child may only call async-signal-safe functions before exec; the rank's variables go in its
  // own environment, and SIGINT / SIGTERM start at their defaults (the launcher catches them)
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults, none;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<pid_t> pids(nproc, -1);
  for (int r = 0; r < nproc; ++r) {
    const std::vector<std::pair<std::string, std::string>> rank_vars = {
        {"RANK", std::to_string(r)},
        {"LOCAL_RANK", std::to_string(r)},
        {"WORLD_SIZE", std::to_string(nproc)},
        {"MASTER_ADDR", addr},
        {"MASTER_PORT", port}};
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      const std::string var(*e);
      const bool replaced = std::any_of(rank_vars.begin(), rank_vars.end(), [&](const auto& kv) {
        return var.rfind(kv.first + "=", 0) == 0;
      });
      if (!replaced) env.push_back(var);
    }
    for (const auto& [name, value] : rank_vars) env.push_back(name + "=" + value);
    std::vector<char*> c_env;
    for (auto& v : env) c_env.push_back(v.data());
    c_env.push_back(nullptr);
    pid_t pid = -1;
    const int rc =
        ::posix_spawn(&pid, "/proc/self/exe", nullptr, &attr, c_args.data(), c_env.data());
    if (rc != 0) {
      for (pid_t started : pids)
        if (started > 0) ::kill(started, SIGTERM);
      posix_spawnattr_destroy(&attr);
      fail("launch", "cannot start rank {}: posix_spawn: {}", r, std::strerror(rc));
    }
    pids[r] = pid;
  }
  posix_spawnattr_destroy(&attr);

  // wait for every rank; the first failure stops the others
  using clock = std::chrono::steady_clock;
  int alive = nproc, failed = -1, forwarded = 0;
  clock::time_point kill_at{};
  auto signal_alive = [&](int sig) {
    for (pid_t pid : pids)
      if (pid > 0) ::kill(pid, sig);
  };
  while (alive > 0) {
    if (g_launcher_signal != 0 && forwarded == 0) {
      forwarded = g_launcher_signal;
      log_info("[launch] {} received: passing it to the ranks", strsignal(forwarded));
      signal_alive(forwarded);
    }
    if (failed >= 0 && clock::now() > kill_at) signal_alive(SIGKILL);
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0 || (pid < 0 && errno == EINTR)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    AVLA_CHECK(pid > 0, "launch", "waitpid(): {}", std::strerror(errno));
    const int r = static_cast<int>(std::find(pids.begin(), pids.end(), pid) - pids.begin());
    if (r == nproc) continue;  // not one of ours
    pids[r] = -1;
    --alive;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok && failed < 0 && forwarded == 0) {
      failed = r;
      log_info("[launch] rank {} {}; stopping the other {} rank(s)", r, describe_status(status),
               alive);
      signal_alive(SIGTERM);
      kill_at = clock::now() + std::chrono::seconds(10);
    }
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (forwarded != 0) return 128 + forwarded;
  if (failed >= 0) {
    log_info("[launch] failed: rank {} stopped first", failed);
    return 1;
  }
  return 0;
}

}  // namespace avla
