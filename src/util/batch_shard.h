// the rows of a global batch that this process computes. every random draw of a training step is
// made for the whole global batch from one generator that all ranks share (same seed, same
// draws), and each rank keeps its rows: the data order, augmentation, masks, times and noise are
// then the same for any world size, so 2 ranks with global batch B follow 1 process with batch B.
#pragma once

#include <cstdint>

namespace avla {

struct BatchShard {
  int64_t begin = 0;  // first global row this process computes
  int64_t end = 0;    // one past its last row
  int64_t total = 0;  // rows of the global batch

  int64_t size() const { return end - begin; }
  bool whole() const { return begin == 0 && end == total; }

  static BatchShard all(int64_t total) { return {0, total, total}; }
  // contiguous, as even as possible: rank r gets rows [r*total/world, (r+1)*total/world)
  static BatchShard of_rank(int64_t total, int rank, int world) {
    return {total * rank / world, total * (rank + 1) / world, total};
  }
};

}  // namespace avla
