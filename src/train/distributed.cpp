#include "train/distributed.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "util/error.h"

namespace avla {

namespace {

constexpr auto kHeartbeatPeriod = std::chrono::milliseconds(1000);

std::string heartbeat_key(int rank) {
  return "avla/heartbeat/" + std::to_string(rank);
}

// an integer environment variable; fallback when unset, a named error when malformed
int env_int(const char* name, int fallback, int min_value) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  AVLA_CHECK(end != text && *end == '\0' && value >= min_value && value <= (1 << 30), "dist",
             "environment variable {}='{}' must be an integer >= {}", name, text, min_value);
  return static_cast<int>(value);
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

std::string cause_of(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return first_line(c10_error->what_without_backtrace());
  }
  return first_line(e.what());
}

// c10d's store clients run listener threads of their own. in LibTorch 1.13 one of them lets a
// std::system_error ("Connection reset by peer") escape its thread when the store's host dies
// (rank 0 killed), and the rank would abort with no word of which rank stopped. while a group is
// live, an exception that escapes any thread ends the rank with the error a failed collective
// gives (the ranks that stopped, named from their heartbeats) and exit status 1.
std::mutex escape_mutex;
std::vector<DistGroup*> live_groups;  // the last one names the rank in the error
bool escape_handler_installed = false;
std::terminate_handler previous_terminate = nullptr;

[[noreturn]] void on_escaped_exception() {
  std::string cause = "an exception of unknown type";
  if (const std::exception_ptr escaped = std::current_exception()) {
    try {
      std::rethrow_exception(escaped);
    } catch (const std::exception& e) {
      cause = cause_of(e);
    } catch (...) {
    }
  }
  // held until the process ends, so that no group is destroyed under us
  std::unique_lock<std::mutex> lock(escape_mutex);
  if (live_groups.empty()) {
    lock.unlock();
    if (previous_terminate != nullptr) previous_terminate();
    std::abort();
  }
  try {
    live_groups.back()->fail_collective("the store connection", cause);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace

DistConfig DistConfig::from_environment() {
  DistConfig c;
  const bool any = std::getenv("RANK") || std::getenv("WORLD_SIZE");
  if (!any) return c;
  AVLA_CHECK(std::getenv("RANK") && std::getenv("WORLD_SIZE"), "dist",
             "RANK and WORLD_SIZE must be set together (torchrun's convention); found only {}",
             std::getenv("RANK") ? "RANK" : "WORLD_SIZE");
  c.world_size = env_int("WORLD_SIZE", 1, 1);
  c.rank = env_int("RANK", 0, 0);
  AVLA_CHECK(c.rank < c.world_size, "dist", "RANK={} must be below WORLD_SIZE={}", c.rank,
             c.world_size);
  c.local_rank = env_int("LOCAL_RANK", c.rank, 0);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) c.master_addr = addr;
  c.master_port = env_int("MASTER_PORT", c.master_port, 1);
  AVLA_CHECK(c.master_port <= 65535, "dist", "MASTER_PORT={} is not a port", c.master_port);
  return c;
}

struct DistGroup::Impl {
  // this group's entry in live_groups; the first member, so it is removed last, after the store's
  // threads have stopped (or when the constructor fails)
  struct EscapeGuard {
    DistGroup* group = nullptr;
    ~EscapeGuard() {
      if (group == nullptr) return;
      std::lock_guard<std::mutex> lock(escape_mutex);
      live_groups.erase(std::remove(live_groups.begin(), live_groups.end(), group),
                        live_groups.end());
    }
  } escape_guard;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  // heartbeat: a counter per rank in the store, bumped by a thread on its own connection
  std::thread heartbeat;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
};

DistGroup::DistGroup(const DistConfig& config) : config_(config), impl_(std::make_unique<Impl>()) {
  AVLA_CHECK(config.world_size >= 1 && config.rank >= 0 && config.rank < config.world_size, "dist",
             "rank {} of world size {} is not a rank", config.rank, config.world_size);
  if (!distributed()) return;
  {
    std::lock_guard<std::mutex> lock(escape_mutex);
    if (!escape_handler_installed) {
      previous_terminate = std::set_terminate(on_escaped_exception);
      escape_handler_installed = true;
    }
    live_groups.push_back(this);
    impl_->escape_guard.group = this;
  }
  // the store, its heartbeat and gloo write to sockets whose peer may have died (rank 0 killed):
  // such a write must fail with EPIPE and reach the named error below, not end this rank silently
  // with SIGPIPE (status 141), which the kill test saw when the heartbeat wrote first
  ::signal(SIGPIPE, SIG_IGN);
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.timeout_s * 1000.0 + 0.5));
  const std::string where = fmt::format("{}:{}", config.master_addr, config.master_port);

  // rendezvous: rank 0 hosts the store and waits until every rank has connected
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(config.master_port);
    options.isServer = is_main();
    options.numWorkers = static_cast<size_t>(config.world_size);
    options.waitWorkers = true;
    options.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(config.master_addr, options);
  } catch (const std::exception& e) {
    fail("dist", "rank {} of {}: rendezvous at {} failed within {:.0f} s: {}", rank(), world_size(),
         where, config.timeout_s, cause_of(e));
  }

  // gloo over the interface that reaches the master (GLOO_SOCKET_IFNAME overrides)
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (is_loopback(config.master_addr)) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    options->threads = 2;
    impl_->gloo =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, rank(), world_size(), options);
  } catch (const std::exception& e) {
    fail("dist", "rank {} of {}: connecting the gloo process group via {} failed: {}", rank(),
         world_size(), where, cause_of(e));
  }

  impl_->heartbeat = std::thread([this, where, timeout] {
    try {
      c10d::TCPStoreOptions options;
      options.port = static_cast<uint16_t>(config_.master_port);
      options.timeout = timeout;
      c10d::TCPStore store(config_.master_addr, options);
      std::unique_lock<std::mutex> lock(impl_->mutex);
      while (!impl_->stopping) {
        store.add(heartbeat_key(rank()), 1);
        impl_->wake.wait_for(lock, kHeartbeatPeriod, [this] { return impl_->stopping; });
      }
    } catch (const std::exception&) {
      // the store went away (rank 0 ended); the collectives report what matters
    }
  });
}

DistGroup::~DistGroup() {
  if (impl_->heartbeat.joinable()) {
    {
      std::lock_guard<std::mutex> lock(impl_->mutex);
      impl_->stopping = true;
    }
    impl_->wake.notify_all();
    impl_->heartbeat.join();
  }
}

BatchShard DistGroup::shard(int64_t global_batch) const {
  AVLA_CHECK(global_batch >= world_size(), "dist",
             "the global batch {} is smaller than the world size {}: every rank needs a row",
             global_batch, world_size());
  return BatchShard::of_rank(global_batch, rank(), world_size());
}

void DistGroup::fail_collective(const std::string& what, const std::string& cause) {
  // which ranks still beat: two readings of every counter, a few periods apart
  std::string lost;
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(config_.master_port);
    options.timeout = std::chrono::seconds(5);
    c10d::TCPStore store(config_.master_addr, options);
    std::vector<int64_t> before(world_size());
    for (int r = 0; r < world_size(); ++r) before[r] = store.add(heartbeat_key(r), 0);
    std::this_thread::sleep_for(3 * kHeartbeatPeriod);
    for (int r = 0; r < world_size(); ++r) {
      if (r != rank() && store.add(heartbeat_key(r), 0) == before[r]) {
        lost += (lost.empty() ? "" : ", ") + std::to_string(r);
      }
    }
    lost = lost.empty() ? "no rank has stopped beating yet (a network fault or a hung rank?)"
                        : "rank " + lost + " stopped";
  } catch (const std::exception&) {
    lost = fmt::format("rank 0 stopped (the store it hosts at {}:{} is unreachable)",
                       config_.master_addr, config_.master_port);
  }
  fail("dist", "rank {} of {}: {} failed: {}; stopping this rank too ({})", rank(), world_size(),
       what, lost, cause);
}

void DistGroup::broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what) {
  if (!distributed()) return;
  try {
    for (const auto& t : tensors) {
      AVLA_CHECK(t.is_contiguous(), "dist", "broadcast of {}: tensor is not contiguous", what);
      // gloo moves host memory: a tensor on another device goes through a cpu copy
      std::vector<at::Tensor> one{t.is_cpu() ? t.detach() : t.detach().to(torch::kCPU)};
      impl_->gloo->broadcast(one)->wait();
      if (!t.is_cpu()) t.detach().copy_(one[0]);
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail_collective("broadcast of " + what, cause_of(e));
  }
}

torch::Tensor DistGroup::all_reduce_sum(const torch::Tensor& values, const std::string& what) {
  torch::Tensor sum = values.detach().to(torch::kCPU, torch::kFloat64).contiguous().clone();
  if (!distributed()) return sum;
  all_reduce_sum_async(sum, what)();
  return sum;
}

std::function<void()> DistGroup::all_reduce_sum_async(torch::Tensor& values,
                                                      const std::string& what) {
  if (!distributed()) return [] {};
  c10::intrusive_ptr<c10d::Work> work;
  try {
    std::vector<at::Tensor> one{values};
    work = impl_->gloo->allreduce(one);
  } catch (const std::exception& e) {
    fail_collective(what, cause_of(e));
  }
  return [this, work, what] {
    try {
      work->wait();
    } catch (const std::exception& e) {
      fail_collective(what, cause_of(e));
    }
  };
}

DistGroup::GlobalMean DistGroup::global_mean(const torch::Tensor& sum, const torch::Tensor& count,
                                             const std::string& what,
                                             const std::vector<double>& extra) {
  std::vector<torch::Tensor> parts{sum.detach().to(torch::kCPU, torch::kFloat64).reshape({1}),
                                   count.detach().to(torch::kCPU, torch::kFloat64).reshape({1})};
  if (!extra.empty()) parts.push_back(torch::tensor(extra, torch::kFloat64));
  const torch::Tensor sums = all_reduce_sum(torch::cat(parts), what);
  const double total = std::max(1.0, sums[1].item<double>());
  GlobalMean mean;
  mean.value = sums[0].item<double>() / total;
  mean.loss = sum / (total / world_size());
  for (size_t i = 0; i < extra.size(); ++i) {
    mean.extra.push_back(sums[static_cast<int64_t>(i) + 2].item<double>());
  }
  return mean;
}

void DistGroup::barrier(const std::string& what) {
  if (!distributed()) return;
  try {
    impl_->gloo->barrier()->wait();
  } catch (const std::exception& e) {
    fail_collective(what, cause_of(e));
  }
}

}  // namespace avla
