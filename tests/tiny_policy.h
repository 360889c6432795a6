// a tiny policy checkpoint trained briefly on synthetic LIBERO-layout data, made once per test
// process (ctest runs every test in its own process), and an observation from that data.
#pragma once

#include "data/libero_file.h"
#include "data/synthetic.h"
#include "policy/policy.h"
#include "test_util.h"
#include "train/trainer.h"

namespace avla::test {

struct TinyRun {
  std::string data, ckpt;
};

inline const TinyRun& tiny_run() {
  static const TinyRun run = [] {
    TinyRun r{temp_dir("tiny_data"), temp_dir("tiny_ckpt")};
    write_synthetic_dataset(r.data, {2, 6, 32, 11, 0.05});
    TrainOptions opt;
    opt.data = {r.data};
    opt.config = tiny_config();
    opt.config.train.steps = 300;
    opt.config.train.log_every = 100;
    opt.out_dir = r.ckpt;
    train(opt);
    return r;
  }();
  return run;
}

inline Observation synthetic_observation(const std::string& data_dir, int step) {
  const LiberoFile f = read_libero_file(data_dir + "/synthetic_task0.hdf5");
  return demo_observation(f.demos[0], step, f.language_instruction);
}

}  // namespace avla::test
