// a tiny policy checkpoint trained briefly on synthetic LIBERO-layout data, made once per test
// process (ctest runs every test in its own process), and an observation from that data.
#pragma once

#include "data/libero_file.h"
#include "data/synthetic.h"
#include "policy/policy.h"
#include "test_util.h"
#include "train/trainer.h"

namespace avla::test {

// the synthetic LIBERO-layout data the tiny tests train on (2 tasks x 6 demos, 32x32 images),
// written once per process
inline const std::string& tiny_data_dir() {
  static const std::string dir = [] {
    std::string d = temp_dir("tiny_data");
    write_synthetic_dataset(d, {2, 6, 32, 11, 0.05});
    return d;
  }();
  return dir;
}

struct TinyRun {
  std::string data, ckpt;
};

inline const TinyRun& tiny_run() {
  static const TinyRun run = [] {
    TinyRun r{tiny_data_dir(), temp_dir("tiny_ckpt")};
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
