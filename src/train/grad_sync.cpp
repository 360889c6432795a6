#include "train/grad_sync.h"

#include "train/distributed.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

GradSync::GradSync(DistGroup& group, std::vector<torch::Tensor> params, int64_t bucket_bytes,
                   int64_t first_bucket_bytes)
    : group_(group), params_(std::move(params)) {
  const int64_t n = static_cast<int64_t>(params_.size());
  bucket_of_.assign(n, -1);
  offset_.assign(n, 0);
  ready_.assign(n, false);

  // pack in reverse registration order; a bucket closes once it reaches its byte cap
  buckets_.emplace_back();
  std::vector<int64_t> numels{0};
  for (int64_t i = n - 1; i >= 0; --i) {
    const torch::Tensor& p = params_[i];
    AVLA_CHECK(p.requires_grad() && p.scalar_type() == torch::kFloat32, "grad-sync",
               "parameter {} must be a float32 tensor that requires grad", i);
    const int64_t cap = buckets_.size() == 1 ? first_bucket_bytes : bucket_bytes;
    if (numels.back() > 0 && numels.back() * 4 >= cap) {
      buckets_.emplace_back();
      numels.push_back(0);
    }
    bucket_of_[i] = static_cast<int64_t>(buckets_.size()) - 1;
    offset_[i] = numels.back();
    buckets_.back().params.push_back(i);
    numels.back() += p.numel();
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    buckets_[b].flat = torch::zeros({numels[b]}, torch::kFloat32);
    n_bytes_ += numels[b] * 4;
  }

  // the hooks see each parameter's whole gradient of the step, before it is accumulated
  for (int64_t i = 0; i < n; ++i) {
    hooks_.push_back(params_[i].register_hook([this, i](torch::Tensor grad) { on_grad(i, grad); }));
  }
}

GradSync::~GradSync() {
  for (size_t i = 0; i < hooks_.size(); ++i) params_[i].remove_hook(hooks_[i]);
}

void GradSync::begin() {
  active_ = true;
  next_bucket_ = 0;
  std::fill(ready_.begin(), ready_.end(), false);
  for (auto& bucket : buckets_) {
    bucket.n_ready = 0;
    bucket.started = false;
    bucket.wait = nullptr;
  }
}

void GradSync::on_grad(int64_t param, const torch::Tensor& grad) {
  if (!active_) return;
  AVLA_CHECK(!ready_[param], "grad-sync",
             "parameter {} got a second gradient in one backward pass (backward called twice "
             "between begin() and finish()?)",
             param);
  Bucket& bucket = buckets_[bucket_of_[param]];
  AVLA_CHECK(!bucket.started, "grad-sync", "parameter {} got its gradient after its bucket left",
             param);
  const int64_t numel = params_[param].numel();
  bucket.flat.narrow(0, offset_[param], numel).copy_(grad.reshape({numel}));
  ready_[param] = true;
  ++bucket.n_ready;
  start_ready_buckets();
}

void GradSync::start_ready_buckets() {
  while (next_bucket_ < n_buckets()) {
    Bucket& bucket = buckets_[next_bucket_];
    if (bucket.n_ready < static_cast<int64_t>(bucket.params.size())) return;
    start(bucket);
    ++next_bucket_;
  }
}

void GradSync::start(Bucket& bucket) {
  bucket.started = true;
  bucket.wait = group_.all_reduce_sum_async(bucket.flat, "gradient all-reduce");
}

void GradSync::finish() {
  AVLA_CHECK(active_, "grad-sync", "finish() without begin()");
  Timer timer;
  // parameters that got no gradient this step contribute zeros; start what is left, in order
  for (; next_bucket_ < n_buckets(); ++next_bucket_) {
    Bucket& bucket = buckets_[next_bucket_];
    for (int64_t i : bucket.params) {
      if (!ready_[i]) bucket.flat.narrow(0, offset_[i], params_[i].numel()).zero_();
    }
    start(bucket);
  }
  active_ = false;
  for (auto& bucket : buckets_) bucket.wait();
  last_wait_ms_ = timer.elapsed_ms();

  // the mean over ranks into .grad
  const double scale = 1.0 / group_.world_size();
  torch::NoGradGuard no_grad;
  for (auto& bucket : buckets_) {
    bucket.flat.mul_(scale);
    for (int64_t i : bucket.params) {
      torch::Tensor& p = params_[i];
      torch::Tensor mean = bucket.flat.narrow(0, offset_[i], p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        p.mutable_grad() = mean.to(p.device(), /*non_blocking=*/false, /*copy=*/true);
      }
    }
  }
}

}  // namespace avla
