// RLDS datasets in the TFDS layout (data/rlds.h, data/oxe_datasets.h): directories written by an
// independent Python writer (tests/reference/rlds_writer.py: its own protobuf schema, its own
// conventions) read back to the values it expects, a weighted mixture draws each input's share,
// a one-camera policy trains on them, and every broken input is one error naming file and record.
#include "data/rlds.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/chunk_sampler.h"
#include "data/dataset.h"
#include "data/oxe_datasets.h"
#include "data/state_features.h"
#include "data/synthetic.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "io/tfrecord.h"
#include "model/tokenizer.h"
#include "test_util.h"

namespace avla {
namespace {

namespace fs = std::filesystem;

// the writer's two datasets under a fresh directory: {bridge dir, fractal dir}
std::pair<std::string, std::string> write_datasets(const std::string& name) {
  const std::string dir = test::temp_dir(name);
  const std::string cmd =
      "/usr/bin/python3 " + test::source_dir() + "/tests/reference/rlds_writer.py " + dir;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return {dir + "/bridge_dataset/1.0.0", dir + "/fractal20220817_data/0.1.0"};
}

TEST(Rlds, InfoAndFeaturesAreReadFromTheTfdsFiles) {
  const auto [bridge, fractal] = write_datasets("rlds_info");
  ASSERT_TRUE(is_rlds_dir(bridge));
  EXPECT_FALSE(is_rlds_dir(bridge + "/.."));
  const RldsInfo info = read_rlds_info(bridge);
  EXPECT_EQ(info.name, "bridge_dataset");
  EXPECT_EQ(info.version, "1.0.0");
  ASSERT_EQ(info.shards.size(), 2u);
  EXPECT_EQ(fs::path(info.shards[1]).filename(), "bridge_dataset-train.tfrecord-00001-of-00002");
  EXPECT_EQ(info.shard_lengths, (std::vector<int64_t>{2, 2}));
  const RldsFeature& image = info.feature("steps/observation/image_0");
  EXPECT_EQ(image.type, RldsFeature::Type::Image);
  EXPECT_EQ(image.shape, (std::vector<int64_t>{32, 40, 3}));
  EXPECT_TRUE(image.per_step);
  EXPECT_EQ(info.feature("steps/action").shape, std::vector<int64_t>{7});
  EXPECT_EQ(info.feature("steps/action").kind(), ExampleFeature::Kind::Float);
  EXPECT_EQ(info.feature("steps/is_first").kind(), ExampleFeature::Kind::Int64);
  EXPECT_EQ(info.feature("steps/language_instruction").type, RldsFeature::Type::Text);
  EXPECT_FALSE(info.feature("episode_metadata/file_path").per_step);
  const RldsInfo f = read_rlds_info(fractal);
  EXPECT_EQ(f.feature("steps/action/terminate_episode").kind(), ExampleFeature::Kind::Int64);
  EXPECT_EQ(f.feature("steps/observation/natural_language_instruction").kind(),
            ExampleFeature::Kind::Bytes);
  test::expect_error([&] { info.feature("steps/observation/wrist"); },
                     {"features.json", "no feature 'steps/observation/wrist'", "steps/action"});
}

// every episode of dir mapped, against the writer's expected.json
void expect_episodes_as_written(const std::string& dir) {
  const nlohmann::json expected = read_json_file(dir + "/expected.json", "test");
  const RldsInfo info = read_rlds_info(dir);
  const OxeDataset& mapping = oxe_dataset(info.name, dir);
  size_t next = 0;
  int64_t checked = 0;
  for_each_rlds_episode(info, [&](RldsEpisode& ep) {
    const OxeEpisode e = map_oxe_episode(mapping, info, ep);
    if (e.instruction.empty()) return;
    ASSERT_LT(next, expected.size());
    const auto& want = expected[next++];
    EXPECT_EQ(e.instruction, want["instruction"].get<std::string>());
    const int64_t T = want["n_steps"].get<int64_t>();
    ASSERT_EQ(e.actions.size(0), T);
    ASSERT_EQ(e.cameras.size(), 1u);
    EXPECT_EQ(e.cameras[0].sizes(), (std::vector<int64_t>{T, want["height"].get<int64_t>(),
                                                          want["width"].get<int64_t>(), 3}));
    for (int64_t t = 0; t < T; ++t) {
      for (int j = 0; j < 7; ++j) {
        EXPECT_NEAR(e.actions[t][j].item<double>(), want["actions"][t][j].get<double>(), 1e-6)
            << dir << " step " << t << " action " << j;
      }
      for (int j = 0; j < 8; ++j) {
        EXPECT_NEAR(e.raw_state[t][j].item<double>(), want["raw_state"][t][j].get<double>(), 1e-5)
            << dir << " step " << t << " state " << j;
      }
      // a flat colour per frame: the decoded mean is within a JPEG's error of it
      for (int c = 0; c < 3; ++c) {
        const double mean = e.cameras[0][t].select(2, c).to(torch::kFloat64).mean().item<double>();
        EXPECT_NEAR(mean, want["colour"][t][c].get<double>(), 3.0) << dir << " step " << t;
      }
    }
    ++checked;
  });
  EXPECT_EQ(next, expected.size());
  EXPECT_GT(checked, 1);
}

TEST(Rlds, BridgeAndFractalEpisodesMapToTheWritersValues) {
  const auto [bridge, fractal] = write_datasets("rlds_values");
  expect_episodes_as_written(bridge);
  expect_episodes_as_written(fractal);
}

TEST(Rlds, GripperConventionsFollowTheOxeMixture) {
  // bridge: > 0.95 open, < 0.05 closed, in between the next decided value; past the last decided
  // value, the last value rounded at 0.5 (a raw 0.3 there once gave a gripper action of 0.4)
  EXPECT_EQ(binarize_gripper({1.0, 0.5, 0.02, 0.6, 0.99, 0.3}),
            (std::vector<double>{1, 0, 0, 1, 1, 0}));
  EXPECT_EQ(binarize_gripper({0.2, 0.7}), (std::vector<double>{1, 1}));
  EXPECT_EQ(binarize_gripper({0.9, 0.4}), (std::vector<double>{0, 0}));
  // fractal: +1 close, -1 open, held; before the first command, its opposite
  EXPECT_EQ(integrate_relative_gripper({0.0, 0.0, 1.0, 0.0, -1.0, 0.05}),
            (std::vector<double>{1, 1, 0, 0, 1, 1}));
  EXPECT_EQ(integrate_relative_gripper({0.0, -1.0, 0.0}), (std::vector<double>{0, 1, 1}));
  EXPECT_EQ(integrate_relative_gripper({0.0, 0.0}), (std::vector<double>{1, 1}));
  // a quarter turn about z, both ways of writing it
  const auto e = euler_xyz_to_axis_angle(0, 0, M_PI / 2);
  const auto q = quat_xyzw_to_axis_angle(0, 0, std::sin(M_PI / 4), std::cos(M_PI / 4));
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(e[i], i == 2 ? M_PI / 2 : 0.0, 1e-12);
    EXPECT_NEAR(q[i], e[i], 1e-12);
  }
}

TEST(Rlds, AWeightedMixtureDrawsEachInputsShare) {
  const auto [bridge, fractal] = write_datasets("rlds_mixture");
  DatasetOptions o;
  o.image_size = 16;
  o.chunk_len = 4;
  const Dataset plain = load_dataset({bridge, fractal}, o);
  EXPECT_EQ(plain.episodes.size(), 5u);  // 3 of bridge's 4 have language, fractal's 2
  EXPECT_EQ(plain.images.sizes(), (std::vector<int64_t>{5 + 7 + 6 + 6 + 5, 1, 3, 16, 16}));
  EXPECT_FALSE(plain.frame_weight.defined());
  EXPECT_EQ(plain.state.size(1), state_feature_dim);
  const Dataset mix = load_dataset({bridge + ":0.75", fractal + ":0.25"}, o);
  ASSERT_TRUE(mix.frame_weight.defined());
  const int64_t n_bridge = 5 + 7 + 6;
  EXPECT_NEAR(mix.frame_weight.narrow(0, 0, n_bridge).sum().item<double>(), 0.75, 1e-12);
  EXPECT_NEAR(mix.frame_weight.sum().item<double>(), 1.0, 1e-12);
  // the sampler draws by it
  Normalizer norm;
  norm.state = NormStats::compute(mix.state, NormMode::MeanStd, 0.0);
  norm.actions = NormStats::compute(mix.actions, NormMode::Quantile, 0.0);
  const WordTokenizer tok = WordTokenizer::build(mix.instructions());
  const ChunkSampler sampler(mix, norm, tok, 8);
  at::Generator gen = at::detail::createCPUGenerator(3);
  const torch::Tensor ids = sampler.sample_ids(20000, gen);
  const double share = (ids < n_bridge).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(share, 0.75, 0.015);  // uniform frames would give 18/29 = 0.62
  // weights for some inputs but not all, and a bad weight
  test::expect_error(
      [&] {
        load_dataset({bridge + ":0.5", fractal}, o);
      },
      {"1 of 2 --data inputs have a :WEIGHT"});
  test::expect_error([&] { load_dataset({bridge + ":-1"}, o); }, {"mixture weight", "positive"});
  // a LIBERO file (two cameras) beside an RLDS dataset (one)
  SyntheticOptions so;
  so.n_tasks = 1;
  so.episodes = 1;
  so.resolution = 16;
  const auto libero = write_synthetic_dataset(fs::path(bridge).parent_path().string(), so);
  test::expect_error(
      [&] {
        load_dataset({fractal, libero[0]}, o);
      },
      {"camera", "every input of a run needs the same cameras"});
}

TEST(Rlds, BrokenDatasetsAreOneErrorNamingFileAndRecord) {
  const auto [bridge, fractal] = write_datasets("rlds_broken");
  const RldsInfo info = read_rlds_info(bridge);
  const std::string shard = info.shards[1];
  const std::string bytes = read_file(shard);
  // a flipped byte inside the second shard's first record
  std::string flipped = bytes;
  flipped[100] = static_cast<char>(flipped[100] ^ 0x20);
  write_file_atomic(shard, flipped);
  test::expect_error([&] { for_each_rlds_episode(info, [](RldsEpisode&) {}); },
                     {"tfrecord", "00001-of-00002", "record 0", "checksum"});
  // a torn shard
  write_file_atomic(shard, bytes.substr(0, bytes.size() - 10));
  test::expect_error([&] { for_each_rlds_episode(info, [](RldsEpisode&) {}); },
                     {"00001-of-00002", "record 1", "torn"});
  // a record count that disagrees with dataset_info.json
  const std::vector<std::string> records = parse_tfrecords(bytes, shard);
  write_tfrecords(shard, {records[0]});
  test::expect_error([&] { for_each_rlds_episode(info, [](RldsEpisode&) {}); },
                     {"00001-of-00002", "1 records, dataset_info.json says 2"});
  // a record without a feature that features.json declares
  Example ex = parse_example(records[0], "test");
  ex.erase("steps/observation/state");
  write_tfrecords(shard, {records[0], encode_example(ex)});
  test::expect_error([&] { for_each_rlds_episode(info, [](RldsEpisode&) {}); },
                     {"00001-of-00002: record 1", "no feature 'steps/observation/state'"});
  // a step feature with a different number of steps
  ex = parse_example(records[0], "test");
  ex["steps/action"].floats.resize(ex["steps/action"].floats.size() - 7);
  write_tfrecords(shard, {records[0], encode_example(ex)});
  test::expect_error([&] { for_each_rlds_episode(info, [](RldsEpisode&) {}); },
                     {"record 1", "'steps/action' has", "steps but"});
  // NaN in an action
  ex = parse_example(records[0], "test");
  ex["steps/action"].floats[3] = std::nanf("");
  write_tfrecords(shard, {records[0], encode_example(ex)});
  const OxeDataset& mapping = oxe_dataset(info.name, "test");
  test::expect_error(
      [&] {
        for_each_rlds_episode(info, [&](RldsEpisode& ep) { map_oxe_episode(mapping, info, ep); });
      },
      {"record 1", "'steps/action' has NaN"});
  // a torn JPEG frame
  ex = parse_example(records[0], "test");
  auto& frame = ex["steps/observation/image_0"].bytes[2];
  frame = frame.substr(0, frame.size() / 4);
  write_tfrecords(shard, {records[0], encode_example(ex)});
  test::expect_error(
      [&] {
        for_each_rlds_episode(info, [&](RldsEpisode& ep) { map_oxe_episode(mapping, info, ep); });
      },
      {"[image]", "record 1", "steps/observation/image_0 step 2"});
  // a missing shard, an unknown dataset
  fs::remove(shard);
  test::expect_error([&] { read_rlds_info(bridge); }, {"shard 1 of 2 is missing"});
  test::expect_error(
      [&] { oxe_dataset("droid", "dataset_info.json"); },
      {"no key mapping for dataset 'droid'", "bridge_dataset", "fractal20220817_data"});
}

TEST(Rlds, AOneCameraPolicyTrainsOnAMixtureFromTheCommandLine) {
  const auto [bridge, fractal] = write_datasets("rlds_train");
  const std::string out = fs::path(bridge).parent_path().parent_path().string() + "/run";
  const test::CliRun r =
      test::run_cli("train --data " + bridge + ":0.6 --data " + fractal + ":0.4 --config " +
                    test::source_dir() + "/configs/tiny.json --out " + out + " --steps 6");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("model.n_cam 2 -> 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("draws 60.0 % of the frames"), std::string::npos) << r.output;
  const nlohmann::json config = read_json_file(out + "/config.json", "test");
  EXPECT_EQ(config["model"]["n_cam"].get<int>(), 1);
  // and it evaluates in the simulator on the agentview camera alone
  const test::CliRun e = test::run_cli("eval --ckpt " + out +
                                       " --suite spatial --tasks near_cube_on_plate --episodes 1 "
                                       "--max-steps 20 --out " +
                                       out + "/eval.json");
  ASSERT_EQ(e.code, 0) << e.output;
  const nlohmann::json report = read_json_file(out + "/eval.json", "test");
  EXPECT_EQ(report["episodes"].size(), 1u);
}

}  // namespace
}  // namespace avla
