// the rows of a global batch that this process computes. every random draw of a training step is
// made for the whole global batch from one generator that all ranks share (same seed, same
// draws), and each rank keeps its rows: the data order, augmentation, masks, times and noise are
// then the same for any world size, so 2 ranks with global batch B follow 1 process with batch B.
#pragma once

#include <cstdint>

#include "util/error.h"

namespace avla {

struct BatchShard {
  int64_t begin = 0;  // first global row this process computes
  int64_t end = 0;    // one past its last row
  int64_t total = 0;  // rows of the global batch

  int64_t size() const { return end - begin; }
  bool whole() const { return begin == 0 && end == total; }

  static BatchShard all(int64_t total) { return {0, total, total}; }
  // the shard a batch of `rows` rows stands for: this one, or (total 0) the whole batch;
  // component names the caller in the error when rows and the shard disagree
  BatchShard of_batch(int64_t rows, const char* component) const {
    const BatchShard s = total > 0 ? *this : all(rows);
    AVLA_CHECK(s.size() == rows, component, "the batch has {} rows, its shard [{}, {}) has {}",
               rows, s.begin, s.end, s.size());
    return s;
  }
  // contiguous, as even as possible: rank r gets rows [r*total/world, (r+1)*total/world)
  static BatchShard of_rank(int64_t total, int rank, int world) {
    return {total * rank / world, total * (rank + 1) / world, total};
  }
};

}  // namespace avla
