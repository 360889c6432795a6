// the training loop's loader: assembles the next batch (frame rows, normalized chunks, tokens,
// the random shift of its images) on a worker thread while the current step computes. the
// batch's random draws (frame ids, shift offsets) are made on the caller's thread when the batch
// is requested, in the order a serial loop makes them, so a run draws the same batches, bit for
// bit, with the worker or without it (background false: assembled on the caller's thread). the
// worker is one thread for the whole run: a thread started per batch paid libgomp's and
// pthreadpool's per-thread start-up every step, on the cores the step computes on.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "data/chunk_sampler.h"
#include "util/batch_shard.h"

namespace avla {

class BatchPrefetcher {
 public:
  // batch: rows of the global batch; shard: this rank's rows of it; aug_shift: pixels of random
  // shift (0: none)
  BatchPrefetcher(const ChunkSampler& sampler, int64_t batch, int aug_shift,
                  const BatchShard& shard, bool background);
  ~BatchPrefetcher();
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  // draws the next batch's frame ids and shift offsets from gen, then starts assembling it
  void request(at::Generator& gen);
  // the requested batch (waits for it); rethrows what its assembly threw
  TrainBatch take();

 private:
  const ChunkSampler& sampler_;
  int64_t batch_;
  int aug_shift_;
  BatchShard shard_;
  bool background_;
  std::future<TrainBatch> pending_;
  // the worker: runs task_ when there is one, until stop_
  void work();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::packaged_task<TrainBatch()> task_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace avla
