// gradient averaging across ranks that overlaps the backward pass (what pytorch ddp's reducer
// does; its c10d::Reducer header needs torch's distributed-autograd headers, which Debian's
// libtorch-dev does not ship, so this is the same scheme on c10d's public collectives).
//
// parameters are packed, in reverse order of registration (roughly the order backward produces
// their gradients), into flat float buckets of about bucket_bytes (the first one smaller, so
// communication starts early). a hook on each parameter copies its gradient into its bucket; a
// bucket whose gradients are all in starts its all-reduce at once, on gloo's threads, while
// backward goes on; buckets start in index order on every rank (collectives must match). the
// buckets live on the cpu whatever the parameters' device: gloo reduces host memory, so a cuda
// run stages its gradients through them (nccl, which would not, is not in this LibTorch).
// finish() starts what a step left (a parameter without a gradient counts as zeros), waits, and
// writes the average over ranks into each parameter's .grad.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace avla {

class DistGroup;

class GradSync {
 public:
  GradSync(DistGroup& group, std::vector<torch::Tensor> params, int64_t bucket_bytes = 4 << 20,
           int64_t first_bucket_bytes = 1 << 20);
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // call before loss.backward(): the hooks then fill the buckets of this step
  void begin();
  // call after loss.backward(): every parameter's .grad is then the mean over ranks
  void finish();

  int64_t n_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  int64_t n_bytes() const { return n_bytes_; }
  // milliseconds finish() waited for communication in the last step (the part backward did not
  // hide)
  double last_wait_ms() const { return last_wait_ms_; }

 private:
  struct Bucket {
    std::vector<int64_t> params;  // indices into params_
    torch::Tensor flat;           // (numel) float32
    int64_t n_ready = 0;
    bool started = false;
    std::function<void()> wait;
  };
  void on_grad(int64_t param, const torch::Tensor& grad);
  void start_ready_buckets();
  void start(Bucket& bucket);

  DistGroup& group_;
  std::vector<torch::Tensor> params_;
  std::vector<int64_t> bucket_of_, offset_;  // per parameter: its bucket, its offset there
  std::vector<bool> ready_;                  // per parameter, this step
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hooks_;
  int64_t next_bucket_ = 0;  // the lowest bucket not started this step
  bool active_ = false;
  int64_t n_bytes_ = 0;
  double last_wait_ms_ = 0;
};

}  // namespace avla
