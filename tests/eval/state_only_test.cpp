// a state-only policy (train --cameras 0, with --privileged-state): no vision encoder and no image
// tokens, trained, resumed, rated and evaluated without a camera image. it is the action head's own
// regime, where the paper's claims about the second round can be measured cheaply
// (docs/EXPERIMENTS.md, "state-only").
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/state_features.h"
#include "io/atomic_file.h"
#include "io/tensor_file.h"
#include "model/vla.h"
#include "test_util.h"
#include "tiny_policy.h"

namespace avla {
namespace {

int64_t n_params(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(StateOnly, ModelHasNoVisionEncoderAndItsPrefixIsTextAndState) {
  ModelConfig cfg = test::tiny_config(20).model;
  torch::manual_seed(0);
  VLA with_cameras(cfg);
  cfg.n_cam = 0;
  VLA state_only(cfg);
  // exactly the vision encoder's weights are gone, and the prefix is 8 text tokens + 1 state
  ASSERT_FALSE(state_only->vision_encoder);
  EXPECT_EQ(n_params(*with_cameras) - n_params(*state_only),
            n_params(*with_cameras->vision_encoder));
  EXPECT_EQ(cfg.prefix_len(), 9);

  const int64_t B = 2;
  const ObservationBatch obs = test::random_observation(cfg, B, 0);  // padded instructions
  ASSERT_EQ(obs.images.size(1), 0);
  torch::NoGradGuard no_grad;
  const KvCache cache = state_only->encode_prefix(obs);
  EXPECT_EQ(cache.prefix_len(), 9);
  // the kv-cache path equals the full recompute with the block mask
  const torch::Tensor noisy = torch::randn({B, cfg.chunk_len, cfg.action_dim});
  const torch::Tensor time = torch::rand({B, cfg.chunk_len});
  const torch::Tensor v = state_only->velocity(cache, noisy, time);
  EXPECT_TRUE(torch::allclose(v, state_only->velocity_full(obs, noisy, time), 1e-5, 1e-5));
  // the state reaches the actions: another state, another velocity
  ObservationBatch moved = obs;
  moved.state = obs.state + 1;
  EXPECT_GT((state_only->velocity(state_only->encode_prefix(moved), noisy, time) - v)
                .abs()
                .max()
                .item<double>(),
            1e-4);

  // no image tokens for a scene token or the object head to read; 3 cameras is not a rig of ours
  ModelConfig bad = cfg;
  bad.scene_slots = 3;
  test::expect_error([&] { bad.validate(); }, {"[config]", "n_cam 0", "scene_slots 3"});
  bad = cfg;
  bad.n_cam = 3;
  test::expect_error([&] { bad.validate(); }, {"[config]", "model.n_cam", "found 3"});
}

TEST(StateOnly, TrainsResumesRatesEvaluatesAndInfersWithoutCameras) {
  const std::string dir = test::temp_dir("state_only");
  const std::string file = test::collect_cube_on_plate(dir + "/data", 3);

  // the dataset keeps the first n_cam cameras and the same states
  DatasetOptions options;
  options.image_size = 32;
  options.chunk_len = 4;
  const Dataset both = load_dataset({file}, options);
  options.n_cam = 1;
  const Dataset front = load_dataset({file}, options);
  options.n_cam = 0;
  const Dataset none = load_dataset({file}, options);
  ASSERT_EQ(both.images.size(1), 2);
  EXPECT_TRUE(torch::equal(front.images, both.images.narrow(1, 0, 1)));
  EXPECT_EQ(none.images.sizes(), torch::IntArrayRef({both.n_frames(), 0, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(none.state, both.state));
  EXPECT_TRUE(torch::equal(none.chunk_index, both.chunk_index));

  // train in two parts (a resume with the preset, whose n_cam is 2, keeps the run's 0)
  const std::string ckpt = dir + "/ckpt";
  const std::string train = "train --data " + dir + "/data --config " + test::source_dir() +
                            "/configs/tiny.json --steps 4 --cameras 0 --privileged-state --out " +
                            ckpt;
  test::CliRun r = test::run_cli(train + " --stop-after 2");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run_cli(train + " --resume");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("done: 4 steps"), std::string::npos) << r.output;
  const auto config = nlohmann::json::parse(read_file(ckpt + "/config.json"));
  EXPECT_EQ(config["model"]["n_cam"], 0);
  EXPECT_EQ(config["model"]["state_dim"], state_feature_dim + object_state_dim);
  for (const auto& [name, t] : load_tensor_map(ckpt + "/model.safetensors")) {
    EXPECT_NE(name.rfind("vision", 0), 0u) << name;
  }

  // the rater, infer on a demo frame, and closed loop, where nothing needs a camera image
  r = test::run_cli("train-rater --ckpt " + ckpt + " --data " + dir + "/data --steps 2");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run_cli("infer --ckpt " + ckpt + " --data " + file + " --step 3 --mode async");
  EXPECT_EQ(r.code, 0) << r.output;
  r = test::run_cli("eval --ckpt " + ckpt +
                    " --suite goal --tasks cube_on_plate --episodes 2 --parallel 2 --max-steps 8 "
                    "--mode async --out " +
                    dir + "/eval.json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto report = nlohmann::json::parse(read_file(dir + "/eval.json"));
  ASSERT_EQ(report["episodes"].size(), 2u);
  EXPECT_EQ(report["episodes"][0]["steps"], 8);

  // a pretrained encoder has nowhere to go; more cameras than the data has is an error
  r = test::run_cli("train --data " + dir + "/data --config " + test::source_dir() +
                    "/configs/tiny.json --steps 2 --cameras 0 --init-vision " + dir + " --out " +
                    dir + "/bad");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("state-only model (no cameras) has no vision encoder"), std::string::npos)
      << r.output;
  r = test::run_cli("train --data " + dir + "/data --steps 2 --cameras 3 --out " + dir + "/bad2");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--cameras"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace avla
