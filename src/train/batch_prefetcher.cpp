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
}

BatchPrefetcher::~BatchPrefetcher() {
  // a batch still in assembly reads the sampler: let it finish (its result or error is dropped)
  if (pending_.valid()) pending_.wait();
}

void BatchPrefetcher::request(at::Generator& gen) {
  AVLA_CHECK(!pending_.valid(), "train", "a batch was requested twice without being taken");
  // the draws, in a serial loop's order: the global batch's frame ids, then its shift offsets
  torch::Tensor ids = sampler_.sample_ids(batch_, gen).slice(0, shard_.begin, shard_.end);
  ShiftOffsets shift = draw_shift(shard_, sampler_.n_cam(), aug_shift_, gen);
  auto assemble = [this, ids, shift, background = background_] {
    // one thread on the worker: the step's own parallel regions keep the cores
    if (background) omp_set_num_threads(1);
    TrainBatch b = sampler_.batch(ids);
    b.obs.images = apply_shift(b.obs.images, shift);
    return b;
  };
  if (background_) {
    pending_ = std::async(std::launch::async, assemble);
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
