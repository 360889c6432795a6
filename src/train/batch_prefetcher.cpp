#include "train/batch_prefetcher.h"

#include <omp.h>

#include "data/image_augment.h"
#include "util/error.h"

namespace avla {

BatchPrefetcher::BatchPrefetcher(const ChunkSampler& sampler, int64_t batch, int aug_shift,
                                 const BatchShard& shard, bool background)
    : sampler_(sampler),
      batch_(batch),
      aug_shift_(aug_shift),
      shard_(shard.total > 0 ? shard : BatchShard::all(batch)),
      background_(background) {
  AVLA_CHECK(shard_.total == batch_, "train", "a shard of {} rows for a batch of {}", shard_.total,
             batch_);
  if (background_) worker_ = std::thread([this] { work(); });
}

BatchPrefetcher::~BatchPrefetcher() {
  // a batch still in assembly reads the sampler: the worker finishes it (its result or error is
  // dropped), then stops
  if (worker_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    worker_.join();
  }
}

void BatchPrefetcher::work() {
  // one thread on the worker: the step's own parallel regions keep the cores
  omp_set_num_threads(1);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || task_.valid(); });
    if (!task_.valid()) return;  // stop_, and nothing left to assemble
    std::packaged_task<TrainBatch()> task = std::move(task_);
    lock.unlock();
    task();  // what assembly throws goes to take()
    lock.lock();
  }
}

void BatchPrefetcher::request(at::Generator& gen) {
  AVLA_CHECK(!pending_.valid(), "train", "a batch was requested twice without being taken");
  // the draws, in a serial loop's order: the global batch's frame ids, then its shift offsets
  torch::Tensor ids = sampler_.sample_ids(batch_, gen).slice(0, shard_.begin, shard_.end);
  ShiftOffsets shift = draw_shift(shard_, sampler_.n_cam(), aug_shift_, gen);
  auto assemble = [this, ids, shift] {
    TrainBatch b = sampler_.batch(ids);
    b.obs.images = apply_shift(b.obs.images, shift);
    return b;
  };
  if (background_) {
    std::packaged_task<TrainBatch()> task(assemble);
    pending_ = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = std::move(task);
    }
    wake_.notify_one();
  } else {
    std::promise<TrainBatch> ready;
    try {
      ready.set_value(assemble());
    } catch (...) {
      ready.set_exception(std::current_exception());
    }
    pending_ = ready.get_future();
  }
}

TrainBatch BatchPrefetcher::take() {
  AVLA_CHECK(pending_.valid(), "train", "take() without a requested batch");
  return pending_.get();
}

}  // namespace avla
