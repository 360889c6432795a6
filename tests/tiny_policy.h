// a tiny policy checkpoint trained briefly on synthetic LIBERO-layout data, and an observation from
// that data. Under ctest the checkpoint is trained once for the whole suite by the fixture
// `Fixture.TinyRun` (test_main.cpp: --make-fixtures) and every test process copies it; a test
// binary run by hand trains its own copy once per process.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "data/libero_file.h"
#include "data/synthetic.h"
#include "policy/policy.h"
#include "sim/collect.h"
#include "test_util.h"
#include "train/trainer.h"

namespace avla::test {

// expert demonstrations of goal/cube_on_plate at 32x32 (the tiny preset's resolution) with the
// simulator's object states, written to out_dir; the cube travels and the layout differs per
// episode. returns the file
inline std::string collect_cube_on_plate(const std::string& out_dir, int episodes) {
  sim::CollectOptions co;
  co.suite = "goal";
  co.tasks = {"cube_on_plate"};
  co.episodes = episodes;
  co.out_dir = out_dir;
  co.resolution = 32;
  return sim::collect_demonstrations(co).at(0);
}

// the variable ctest sets to the folder the fixture wrote (empty: train in this process)
inline std::string fixture_dir() {
  const char* dir = std::getenv("ASYNCVLA_TEST_FIXTURES");
  return dir ? std::string(dir) : std::string();
}

// the synthetic LIBERO-layout data the tiny tests train on (2 tasks x 6 demos, 32x32 images)
inline void write_tiny_data(const std::string& dir) {
  write_synthetic_dataset(dir, {2, 6, 32, 11, 0.05});
}

// the tiny run itself: 300 steps of the tiny preset on the tiny data
inline void train_tiny_run(const std::string& data, const std::string& ckpt) {
  TrainOptions opt;
  opt.data = {data};
  opt.config = tiny_config();
  opt.config.train.steps = 300;
  opt.config.train.log_every = 100;
  opt.out_dir = ckpt;
  train(opt);
}

// a private copy of the fixture's folder `name` (tests may write into theirs), or "" when there is
// no fixture
inline std::string copy_of_fixture(const std::string& name) {
  const std::string root = fixture_dir();
  if (root.empty()) return "";
  const std::filesystem::path from = std::filesystem::path(root) / name;
  if (!std::filesystem::exists(std::filesystem::path(root) / "complete"))
    throw std::runtime_error("test fixture: " + root +
                             " has no 'complete' marker; did Fixture.TinyRun fail?");
  std::string dir = temp_dir(name);
  std::filesystem::copy(from, dir, std::filesystem::copy_options::recursive);
  return dir;
}

// the tiny data, written (or copied from the fixture) once per process
inline const std::string& tiny_data_dir() {
  static const std::string dir = [] {
    std::string d = copy_of_fixture("tiny_data");
    if (!d.empty()) return d;
    d = temp_dir("tiny_data");
    write_tiny_data(d);
    return d;
  }();
  return dir;
}

struct TinyRun {
  std::string data, ckpt;
};

inline const TinyRun& tiny_run() {
  static const TinyRun run = [] {
    TinyRun r{tiny_data_dir(), copy_of_fixture("tiny_ckpt")};
    if (!r.ckpt.empty()) return r;
    r.ckpt = temp_dir("tiny_ckpt");
    train_tiny_run(r.data, r.ckpt);
    return r;
  }();
  return run;
}

// a copy of the tiny run's policy files without any rater (a rater another test in this process
// trained into the run stays behind), in a fresh directory `name`
inline std::string tiny_policy_without_rater(const std::string& name) {
  const std::string dir = temp_dir(name);
  for (const char* f : {"config.json", "model.safetensors", "norm_stats.json", "tokenizer.json"})
    std::filesystem::copy_file(tiny_run().ckpt + "/" + f, dir + "/" + f);
  return dir;
}

// the fixture: data and run written under root, then the 'complete' marker
inline void make_fixtures(const std::string& root) {
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  write_tiny_data(root + "/tiny_data");
  train_tiny_run(root + "/tiny_data", root + "/tiny_ckpt");
  std::ofstream(root + "/complete") << "ok\n";
}

inline Observation synthetic_observation(const std::string& data_dir, int step) {
  const LiberoFile f = read_libero_file(data_dir + "/synthetic_task0.hdf5");
  return demo_observation(f.demos[0], step, f.language_instruction);
}

}  // namespace avla::test
