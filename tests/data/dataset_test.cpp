#include "data/dataset.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "data/chunk_sampler.h"
#include "data/libero_file.h"
#include "data/synthetic.h"
#include "io/child_read.h"
#include "io/hdf5_util.h"
#include "test_util.h"

namespace avla {
namespace {

// one demo of T steps with recognisable values: actions[t] = (t + 1) / 100 on every dim
LiberoDemo counting_demo(int64_t T, int64_t res) {
  LiberoDemo d;
  d.actions = ((torch::arange(T, torch::kFloat64) + 1) / 100.0).view({T, 1}).repeat({1, 7});
  d.agentview_rgb = torch::full({T, res, res, 3}, 10, torch::kUInt8);
  d.eye_in_hand_rgb = torch::full({T, res, res, 3}, 200, torch::kUInt8);
  d.ee_states = torch::zeros({T, 6}, torch::kFloat64);
  d.gripper_states = torch::zeros({T, 2}, torch::kFloat64);
  return d;
}

std::string write_file(const std::string& dir, const std::string& name,
                       const std::vector<LiberoDemo>& demos, const std::string& instruction) {
  std::string path = dir + "/" + name;
  write_libero_file(path, R"({"language_instruction": ")" + instruction + R"("})", "{}", demos);
  return path;
}

TEST(LiberoFile, WriteReadRoundTrip) {
  std::string dir = test::temp_dir("libero_rt");
  LiberoDemo d = counting_demo(5, 8);
  std::string path = write_file(dir, "t.hdf5", {d, counting_demo(3, 8)}, "open the drawer");
  LiberoFile f = read_libero_file(path);
  EXPECT_EQ(f.language_instruction, "open the drawer");
  ASSERT_EQ(f.demos.size(), 2u);
  EXPECT_TRUE(torch::equal(f.demos[0].actions, d.actions));
  EXPECT_TRUE(torch::equal(f.demos[0].eye_in_hand_rgb, d.eye_in_hand_rgb));
  EXPECT_EQ(f.demos[1].length(), 3);
}

TEST(LiberoFile, MissingDatasetNamesFileAndField) {
  std::string dir = test::temp_dir("libero_missing");
  LiberoDemo d = counting_demo(4, 8);
  d.gripper_states = torch::Tensor();
  std::string path = write_file(dir, "m.hdf5", {d}, "x");
  test::expect_error([&] { read_libero_file(path); },
                     {"[hdf5]", "m.hdf5", "missing dataset 'data/demo_0/obs/gripper_states'"});
}

TEST(LiberoFile, NanInActionsNamesRow) {
  std::string dir = test::temp_dir("libero_nan");
  LiberoDemo d = counting_demo(6, 8);
  d.actions[4][2] = std::nan("");
  std::string path = write_file(dir, "n.hdf5", {d}, "x");
  test::expect_error([&] { read_libero_file(path); },
                     {"[libero]", "n.hdf5", "'data/demo_0/actions' has NaN or Inf at row 4"});
}

TEST(LiberoFile, BrokenFilesAreErrors) {
  std::string dir = test::temp_dir("libero_broken");
  std::ofstream(dir + "/junk.hdf5") << "not an hdf5 file";
  test::expect_error([&] { read_libero_file(dir + "/junk.hdf5"); }, {"junk.hdf5", "cannot open"});
  LiberoDemo d = counting_demo(4, 8);
  d.actions = torch::zeros({4, 5}, torch::kFloat64);
  std::string path = write_file(dir, "s.hdf5", {d}, "x");
  test::expect_error([&] { read_libero_file(path); },
                     {"'data/demo_0/actions' has shape [4, 5], expected [*, 7]"});
}

// replaces dataset `path` of an hdf5 file with one of `dims` whose first `written` rows are
// written (chunked by row when `chunked`, contiguous otherwise), like a file truncated mid-write
void replace_with_partly_written(const std::string& file, const std::string& path,
                                 std::vector<hsize_t> dims, hsize_t written, bool chunked) {
  H5::H5File f(file, H5F_ACC_RDWR);
  f.unlink(path);
  H5::DSetCreatPropList props;
  if (chunked) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = 1;
    props.setChunk(static_cast<int>(chunk.size()), chunk.data());
    props.setDeflate(4);
  }
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  H5::DataSet ds = f.createDataSet(path, H5::PredType::NATIVE_UINT8, space, props);
  if (written == 0) return;
  std::vector<hsize_t> count = dims, start(dims.size(), 0);
  count[0] = written;
  space.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
  H5::DataSpace mem(static_cast<int>(count.size()), count.data());
  hsize_t n = 1;
  for (hsize_t c : count) n *= c;
  std::vector<uint8_t> bytes(n, 7);
  ds.write(bytes.data(), H5::PredType::NATIVE_UINT8, mem, space);
}

// fuzz_libero found a 32 KB file whose image dataset declares 4.8 GB but stores 3 chunks; libhdf5
// fills the rest with the fill value, so reading it took 23 GB of memory. a dataset must store all
// it declares (a truncated write is the honest way to get such a file)
TEST(LiberoFile, ADatasetThatDeclaresMoreThanTheFileStoresIsRefused) {
  const std::string dir = test::temp_dir("libero_unstored");
  const std::string chunked = write_file(dir, "c.hdf5", {counting_demo(5, 8)}, "x");
  replace_with_partly_written(chunked, "data/demo_0/obs/agentview_rgb", {5, 8, 8, 3}, 2, true);
  test::expect_error([&] { read_libero_file(chunked); },
                     {"[hdf5]", "c.hdf5",
                      "dataset 'data/demo_0/obs/agentview_rgb' stores 2 of the 5 "
                      "chunks its shape spans",
                      "never written"});
  const std::string contiguous = write_file(dir, "k.hdf5", {counting_demo(5, 8)}, "x");
  replace_with_partly_written(contiguous, "data/demo_0/obs/eye_in_hand_rgb", {5, 8, 8, 3}, 0,
                              false);
  test::expect_error([&] { read_libero_file(contiguous); },
                     {"[hdf5]", "k.hdf5",
                      "dataset 'data/demo_0/obs/eye_in_hand_rgb' stores 0 of "
                      "its 960 bytes"});
  // every chunk written, even if the data compresses to almost nothing, reads as before
  const std::string whole = write_file(dir, "w.hdf5", {counting_demo(5, 8)}, "x");
  replace_with_partly_written(whole, "data/demo_0/obs/agentview_rgb", {5, 8, 8, 3}, 5, true);
  EXPECT_EQ(read_libero_file(whole).demos.at(0).agentview_rgb.sum().item<int64_t>(),
            5 * 8 * 8 * 3 * 7);
  std::filesystem::remove_all(dir);
}

// fuzz_libero found files on which libhdf5 1.10 itself loops forever (H5HG_read on a global heap
// that never ends); the guard's child is killed at ASYNCVLA_HDF5_GUARD_TIMEOUT and the file refused
TEST(LiberoFile, AFileThatLoopsLibhdf5ForeverIsRefusedAtTheGuardsDeadline) {
  const std::string file =
      test::source_dir() +
      "/tests/fuzz/regressions/libero/global_heap_that_sends_libhdf5_into_an_endless_loop.hdf5";
  ASSERT_EQ(::setenv("ASYNCVLA_HDF5_GUARD_TIMEOUT", "2", 1), 0);
  test::expect_error([&] { read_libero_file(file); },
                     {"[hdf5]", "endless_loop.hdf5", "did not finish reading this file in 2 s",
                      "ASYNCVLA_HDF5_GUARD_TIMEOUT"});
  // a good file reads within the same deadline; a deadline that is not a number is an error
  const std::string dir = test::temp_dir("libero_guard");
  const std::string good = write_file(dir, "g.hdf5", {counting_demo(3, 8)}, "x");
  EXPECT_EQ(read_libero_file(good).demos.at(0).length(), 3);
  ASSERT_EQ(::setenv("ASYNCVLA_HDF5_GUARD_TIMEOUT", "soon", 1), 0);
  test::expect_error([&] { read_libero_file(good); },
                     {"[hdf5]", "ASYNCVLA_HDF5_GUARD_TIMEOUT is 'soon'", "positive number"});
  ::unsetenv("ASYNCVLA_HDF5_GUARD_TIMEOUT");
  std::filesystem::remove_all(dir);
}

// a process that runs threads (a rank's store and Gloo threads) must not fork its reading child:
// it starts this program afresh, and files read there give the same tensors and the same errors
TEST(LiberoFile, AThreadedProcessReadsInAFreshProgramWithTheSameResults) {
  const std::string dir = test::temp_dir("libero_spawn");
  LiberoDemo bad = counting_demo(5, 8);
  bad.actions[4][2] = std::nan("");
  const std::string good = write_file(dir, "g.hdf5", {counting_demo(3, 8)}, "x");
  const std::string nan = write_file(dir, "n.hdf5", {bad}, "x");
  EXPECT_TRUE(child_read_forks());
  const LiberoFile forked = read_libero_file(good);

  std::promise<void> stop;
  std::thread idle([done = stop.get_future()] { done.wait(); });
  EXPECT_FALSE(child_read_forks());
  const LiberoFile spawned = read_libero_file(good);
  EXPECT_EQ(spawned.language_instruction, forked.language_instruction);
  EXPECT_TRUE(torch::equal(spawned.demos.at(0).actions, forked.demos.at(0).actions));
  EXPECT_TRUE(torch::equal(spawned.demos.at(0).agentview_rgb, forked.demos.at(0).agentview_rgb));
  test::expect_error([&] { read_libero_file(nan); },
                     {"[libero]", "n.hdf5", "'data/demo_0/actions' has NaN or Inf at row 4"});
  // the endless-loop file ends at the deadline here too
  ASSERT_EQ(::setenv("ASYNCVLA_HDF5_GUARD_TIMEOUT", "2", 1), 0);
  test::expect_error(
      [&] {
        read_libero_file(test::source_dir() +
                         "/tests/fuzz/regressions/libero/"
                         "global_heap_that_sends_libhdf5_into_an_endless_loop.hdf5");
      },
      {"[hdf5]", "endless_loop.hdf5", "did not finish reading this file in 2 s"});
  ::unsetenv("ASYNCVLA_HDF5_GUARD_TIMEOUT");
  stop.set_value();
  idle.join();
  std::filesystem::remove_all(dir);
}

// another fuzz_libero input: reading problem_info, libhdf5 writes past a buffer without crashing,
// and the process died later at an unrelated free (exit 134, after printing a clean error). what
// the corrupted child does next depends on the machine's heap layout: here it fails its read, on
// the CI machine the child never finished (the deadline ended it). either way the library runs only
// in the reading child, so the command ends with one error naming the file and exit 1
TEST(LiberoFile, AFileThatCorruptsLibhdf5sHeapEndsTheCommandWithItsErrorAlone) {
  const std::string file =
      test::source_dir() +
      "/tests/fuzz/regressions/libero/vlen_string_read_that_corrupts_the_heap.hdf5";
  const std::string dir = test::temp_dir("libero_heap");
  ASSERT_EQ(::setenv("ASYNCVLA_HDF5_GUARD_TIMEOUT", "5", 1), 0);
  const test::CliRun r = test::run_cli("train --data " + file + " --steps 1 --out " + dir + "/run");
  ::unsetenv("ASYNCVLA_HDF5_GUARD_TIMEOUT");
  EXPECT_EQ(r.code, 1) << r.output;
  const bool named_error = r.output.find("error: [libero]") != std::string::npos ||
                           r.output.find("error: [hdf5]") != std::string::npos;
  EXPECT_TRUE(named_error) << r.output;
  EXPECT_EQ(r.output.find("error:"), r.output.rfind("error:")) << "one error only:\n" << r.output;
  EXPECT_NE(r.output.find("vlen_string_read_that_corrupts_the_heap.hdf5"), std::string::npos);
  EXPECT_EQ(r.output.find("free()"), std::string::npos) << r.output;
  std::filesystem::remove_all(dir);
}

TEST(Dataset, ChunksPaddingAndPauses) {
  std::string dir = test::temp_dir("dataset");
  LiberoDemo d = counting_demo(6, 16);
  // steps 2 and 3 are a pause: no motion, gripper unchanged (0.02 -> 0.02)
  d.actions[2].fill_(0.0);
  d.actions[3].fill_(0.0);
  d.actions[1][6] = 0.0;
  std::string path = write_file(dir, "c.hdf5", {d, counting_demo(3, 16)}, "go");
  Dataset ds = load_dataset({path}, {8, 4, 1e-3});
  EXPECT_EQ(ds.n_frames(), 9);
  EXPECT_EQ(ds.images.sizes(), torch::IntArrayRef({9, 2, 3, 8, 8}));
  EXPECT_EQ(ds.images[0][1][0][0][0].item<int>(), 200);  // eye_in_hand resized, value kept
  EXPECT_TRUE(
      torch::equal(ds.pause.narrow(0, 0, 6), torch::tensor({0, 0, 1, 1, 0, 0}, torch::kBool)));
  // frame 4 of demo 0: chunk = frames 4, 5, 5, 5 with validity 1, 1, 0, 0
  EXPECT_TRUE(torch::equal(ds.chunk_index[4], torch::tensor({4, 5, 5, 5}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(ds.chunk_valid[4], torch::tensor({1, 1, 0, 0}, torch::kBool)));
  // frame 1: frames 1, 2, 3, 4 with the pause frames invalid
  EXPECT_TRUE(torch::equal(ds.chunk_valid[1], torch::tensor({1, 0, 0, 1}, torch::kBool)));
  // demo 1 starts at frame 6 and never reaches into demo 0
  EXPECT_TRUE(torch::equal(ds.chunk_index[7], torch::tensor({7, 8, 8, 8}, torch::kInt64)));
}

TEST(Normalizer, QuantileAndMeanStdRoundTrip) {
  torch::Tensor v = torch::arange(101, torch::kFloat32).view({101, 1}).repeat({1, 2});
  NormStats q = NormStats::compute(v, NormMode::Quantile);
  EXPECT_FLOAT_EQ(q.q01[0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(q.q99[0].item<float>(), 99.0f);
  EXPECT_NEAR(q.normalize(torch::tensor({{50.f, 99.f}}))[0][0].item<float>(), 0.0f, 1e-5);
  EXPECT_NEAR(q.normalize(torch::tensor({{50.f, 99.f}}))[0][1].item<float>(), 1.0f, 1e-5);
  NormStats m = NormStats::compute(v, NormMode::MeanStd);
  EXPECT_FLOAT_EQ(m.mean[0].item<float>(), 50.0f);
  torch::Tensor x = torch::randn({5, 2});
  EXPECT_LT(test::max_abs_diff(m.unnormalize(m.normalize(x)), x), 1e-5);
  EXPECT_LT(test::max_abs_diff(q.unnormalize(q.normalize(x)), x), 1e-5);
  std::string dir = test::temp_dir("norm");
  Normalizer n{m, q};
  n.save(dir + "/n.json");
  Normalizer back = Normalizer::load(dir + "/n.json");
  // every statistic of both parts survives the file
  for (const auto& [a, b] :
       {std::pair{&n.state, &back.state}, std::pair{&n.actions, &back.actions}}) {
    EXPECT_EQ(a->mode, b->mode);
    for (const auto& [x, y] : {std::pair{a->mean, b->mean}, std::pair{a->std, b->std},
                               std::pair{a->q01, b->q01}, std::pair{a->q99, b->q99}}) {
      EXPECT_TRUE(torch::equal(x, y)) << x << y;
    }
  }
  EXPECT_EQ(back.state.mode, NormMode::MeanStd);
}

TEST(Normalizer, NearConstantDimensionDividesByTheFloor) {
  // column 0 varies, column 1 is constant but for 1e-5 of noise (a gripper that never tilts)
  torch::Tensor v =
      torch::stack({torch::linspace(-1, 1, 50),
                    0.3 + 1e-5 * torch::randn({50}, at::detail::createCPUGenerator(0))},
                   1);
  NormStats raw = NormStats::compute(v, NormMode::MeanStd);
  NormStats floored = NormStats::compute(v, NormMode::MeanStd, 0.01);
  EXPECT_FLOAT_EQ(floored.std[1].item<float>(), 0.01f);
  EXPECT_FLOAT_EQ(floored.std[0].item<float>(), raw.std[0].item<float>());
  // a 0.005 deviation in closed loop: half a floor, where the raw std makes it hundreds
  torch::Tensor x = torch::tensor({{0.f, 0.305f}});
  EXPECT_NEAR(floored.normalize(x)[0][1].item<float>(), 0.5, 0.01);
  EXPECT_GT(raw.normalize(x)[0][1].item<float>(), 100);
  EXPECT_LT(test::max_abs_diff(floored.unnormalize(floored.normalize(x)), x), 1e-6);
}

TEST(Normalizer, NarrowActionRangeIsWidenedAroundItsMidpoint) {
  // column 0 spans [-0.8, 0.8]; column 1 only [0.096, 0.104] (a wrist correction of ~0.004)
  torch::Tensor v =
      torch::stack({torch::linspace(-0.8, 0.8, 101), torch::linspace(0.096, 0.104, 101)}, 1);
  NormStats raw = NormStats::compute(v, NormMode::Quantile);
  NormStats floored = NormStats::compute(v, NormMode::Quantile, 0.1);
  // q01 / q99 by hand: the 2nd and 100th of 101 evenly spaced values
  EXPECT_NEAR(raw.q01[1].item<float>(), 0.09608, 1e-6);
  EXPECT_NEAR(raw.q99[1].item<float>(), 0.10392, 1e-6);
  EXPECT_NEAR(floored.q01[1].item<float>(), 0.05, 1e-6);
  EXPECT_NEAR(floored.q99[1].item<float>(), 0.15, 1e-6);
  // the wide column keeps its range; the std is not touched in quantile mode
  EXPECT_FLOAT_EQ(floored.q01[0].item<float>(), raw.q01[0].item<float>());
  EXPECT_FLOAT_EQ(floored.q99[0].item<float>(), raw.q99[0].item<float>());
  EXPECT_TRUE(torch::equal(floored.std, raw.std));
  // a 0.004 correction: 0.08 of the floored range, the whole [-1, 1] span of the raw one
  torch::Tensor x = torch::tensor({{0.0f, 0.104f}});
  EXPECT_NEAR(floored.normalize(x)[0][1].item<float>(), 0.08, 1e-4);
  EXPECT_GT(raw.normalize(x)[0][1].item<float>(), 0.99);
  EXPECT_LT(test::max_abs_diff(floored.unnormalize(floored.normalize(x)), x), 1e-6);
}

TEST(Tokenizer, WordVocabularyAndUnknownWords) {
  WordTokenizer tok = WordTokenizer::build({"Pick up the red block.", "open the drawer"});
  EXPECT_EQ(tok.vocab_size(), 2 + 7);
  TokenizedText t = tok.encode("pick the purple block", 6);
  EXPECT_EQ(t.ids[2], WordTokenizer::kUnkId);
  EXPECT_EQ(t.ids[4], WordTokenizer::kPadId);
  EXPECT_EQ(t.mask, (std::vector<uint8_t>{1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(tok.encode("a b c d e f g h", 6).n_truncated, 2);
}

TEST(Synthetic, ExpertReachesTargetAndFileIsReadable) {
  std::string dir = test::temp_dir("synth");
  auto paths = write_synthetic_dataset(dir, {2, 3, 32, 7, 0.05});
  ASSERT_EQ(paths.size(), 2u);
  LiberoFile f = read_libero_file(paths[1]);
  EXPECT_EQ(f.language_instruction, "pick up the green block");
  for (const auto& d : f.demos) {
    // the expert ends closing the gripper (action +1) for its last 4 steps
    EXPECT_EQ(d.actions[-1][6].item<double>(), 1.0);
    EXPECT_LT(d.length(), 80);
  }
}

}  // namespace
}  // namespace avla
