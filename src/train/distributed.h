// data-parallel process groups on torch's c10d: torchrun's environment convention (RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), rendezvous through a c10d TCPStore hosted by
// rank 0, collectives on c10d's ProcessGroupGloo (the cpu backend; nccl needs a cuda LibTorch).
// a world of one opens no socket and every collective is the identity.
//
// a rank that dies makes the collectives of the others fail (gloo sees the closed connection, or
// its timeout expires for a rank that hangs); the survivors then read the ranks' heartbeat counters
// in the store to name the rank that stopped, and throw an error that says so. an exception that
// escapes a thread of a live group (LibTorch 1.13's store client does this when rank 0 dies) ends
// the rank with that same error and exit status 1 instead of an abort.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/batch_shard.h"

namespace avla {

struct DistConfig {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  double timeout_s = 300;  // rendezvous and every collective

  // from torchrun's variables; none set: a single process. names the variable that is wrong.
  static DistConfig from_environment();
};

class DistGroup {
 public:
  explicit DistGroup(const DistConfig& config);
  ~DistGroup();
  DistGroup(const DistGroup&) = delete;
  DistGroup& operator=(const DistGroup&) = delete;

  int rank() const { return config_.rank; }
  int world_size() const { return config_.world_size; }
  bool is_main() const { return config_.rank == 0; }
  bool distributed() const { return config_.world_size > 1; }
  // this rank's rows of a global batch; every rank gets at least one row
  BatchShard shard(int64_t global_batch) const;

  // rank 0's values into every rank's tensors, in place (same order and shapes on every rank)
  void broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what);
  // element-wise sum over ranks of a small float tensor, blocking; returns the sum
  torch::Tensor all_reduce_sum(const torch::Tensor& values, const std::string& what);
  // starts an in-place sum over ranks and returns the function that waits for it (and throws
  // the named error when a rank is gone)
  std::function<void()> all_reduce_sum_async(torch::Tensor& values, const std::string& what);
  void barrier(const std::string& what);

  // a loss averaged over the global batch from each rank's sum and element count, in one
  // all-reduce that also sums extra. value: the sums over ranks divided (count at least 1);
  // loss: this rank's term to backpropagate, so that gradients averaged over ranks are the
  // gradient of value (world 1: sum / count). extra: each extra value summed over ranks.
  struct GlobalMean {
    torch::Tensor loss;  // () with the graph of sum
    double value = 0;
    std::vector<double> extra;
  };
  GlobalMean global_mean(const torch::Tensor& sum, const torch::Tensor& count,
                         const std::string& what, const std::vector<double>& extra = {});

  // the error to throw when a collective failed: names the ranks that stopped responding
  [[noreturn]] void fail_collective(const std::string& what, const std::string& cause);

 private:
  struct Impl;
  DistConfig config_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace avla
