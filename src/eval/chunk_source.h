// where an evaluation's chunks come from. three sources share one interface: the checkpoint in this
// process (a Policy), an openpi-protocol server (ours or openpi's) that receives exactly the
// request of openpi's LIBERO example plus the episode's noise seed, and scripted diagnostics (the
// scripted expert's actions, or zero actions) that need no policy at all.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eval/evaluate.h"

namespace avla::sim {
class Env;
struct Task;
}  // namespace avla::sim

namespace avla {

// one running episode that needs its next chunk
struct ChunkRow {
  int slot = 0;  // its environment's index in the lockstep group
  const sim::SimObservation* observation = nullptr;
  sim::Env* env = nullptr;
  uint64_t seed = 0;  // the chunk's noise seed
};

class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // an episode starts in slot's environment (reset to task on seed)
  virtual void start_episode(int slot, const sim::Task& task, sim::Env& env, uint64_t seed) {}
  // one chunk per row, in environment units: actions (L', A) with L' the chunk length (1 for a
  // scripted source), its first round, mask and confidences where the source has them
  virtual std::vector<ActResult> act(const std::vector<ChunkRow>& rows,
                                     const std::string& instruction) = 0;

  int chunk_len = 0;               // 0: a server that does not say
  int image_size = 0;              // the camera resolution the source expects by default
  std::optional<int> mask_window;  // tokens random/async may mask (unset: a server or scripted)
  bool privileged_state = false;
  bool reads_images = true;  // false: a state-only policy; the scenes render only for videos
  std::string mode;          // what ran: sfm | random | async | a server's mode | scripted_*
  double threshold = 0.5;
  std::string precision;  // a policy in this process: fp32 | bf16 (empty: a server or scripted)
};

// the source eval's options name: --scripted, --ckpt or --server (exactly one); errors name the
// flags
std::unique_ptr<ChunkSource> make_chunk_source(const EvalOptions& options);

}  // namespace avla
