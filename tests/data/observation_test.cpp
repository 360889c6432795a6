// the one observation path: a frame of an expert episode reaches the model as the same bytes
// whether it comes from the HDF5 file `sim collect` wrote (training: dataset and chunk sampler),
// straight from the simulator (eval) or through an openpi request (serve).
#include "data/observation.h"

#include <gtest/gtest.h>

#include "data/chunk_sampler.h"
#include "data/dataset.h"
#include "data/state_features.h"
#include "eval/evaluate.h"
#include "serve/openpi_protocol.h"
#include "sim/collect.h"
#include "test_util.h"

namespace avla {
namespace {

void expect_same_inputs(const ObservationBatch& a, const ObservationBatch& b,
                        const std::string& what) {
  EXPECT_TRUE(torch::equal(a.images, b.images)) << what << ": images";
  EXPECT_TRUE(torch::equal(a.state, b.state))
      << what << ": state, max diff " << test::max_abs_diff(a.state, b.state);
  EXPECT_TRUE(torch::equal(a.tokens, b.tokens)) << what << ": tokens";
  EXPECT_TRUE(torch::equal(a.token_mask, b.token_mask)) << what << ": token mask";
}

TEST(Observation, OneFrameFromTheFileTheSimulatorAndARequestGivesTheSameModelInputs) {
  Config cfg = test::tiny_config();  // 32x32 cameras
  const std::string dir = test::temp_dir("observation_roads");
  // the file road: one expert demonstration, as `sim collect` writes it
  sim::CollectOptions collect;
  collect.suite = "goal";
  collect.tasks = {"open_drawer"};
  collect.episodes = 1;
  collect.resolution = cfg.model.image_size;
  collect.seed = 7;
  collect.out_dir = dir;
  const std::vector<std::string> files = sim::collect_demonstrations(collect);
  ASSERT_EQ(files.size(), 1u);
  const Dataset dataset = load_dataset(files, dataset_options(cfg));
  Normalizer normalizer;
  normalizer.state = NormStats::compute(dataset.state, NormMode::MeanStd, 0.01);
  normalizer.actions = NormStats::compute(dataset.actions, NormMode::Quantile, 0.0);
  const WordTokenizer tokenizer = WordTokenizer::build(dataset.instructions());
  cfg.model.vocab_size = tokenizer.vocab_size();
  const ChunkSampler sampler(dataset, normalizer, tokenizer, cfg.model.max_text_len);
  const ObservationEncoder encoder(cfg.model, normalizer, tokenizer, "test");

  // the simulator road: the same episode again (an episode is a function of its seed)
  const sim::Task& task = sim::find_task("goal", "open_drawer");
  sim::EnvConfig env_config;
  env_config.image_size = cfg.model.image_size;
  sim::Env env(env_config);
  const sim::ExpertEpisode episode = sim::run_expert(env, task, collect.seed, true);
  ASSERT_TRUE(episode.success);
  ASSERT_EQ(static_cast<int64_t>(episode.observations.size()), dataset.n_frames());

  int rotated_frames = 0;
  for (const int64_t t : {int64_t{0}, dataset.n_frames() / 2, dataset.n_frames() - 1}) {
    const std::string frame = "frame " + std::to_string(t);
    const ObservationBatch from_file = sampler.batch(torch::tensor({t})).obs;
    const sim::SimObservation& o = episode.observations[t];
    const ObservationBatch from_sim =
        encoder.encode({policy_observation(o, task.instruction, 2, false)});
    expect_same_inputs(from_file, from_sim, frame + ", file against simulator");

    // the request road: what openpi's LIBERO client sends, the state in float64 as the
    // simulator has it (the rounding to float32 is the encoder's, on every road)
    Observation sent = policy_observation(o, task.instruction, 2, false);
    sent.state = torch::tensor(
        std::vector<double>{o.ee_pos[0], o.ee_pos[1], o.ee_pos[2], o.ee_ori[0], o.ee_ori[1],
                            o.ee_ori[2], o.gripper_states[0], o.gripper_states[1]},
        torch::kFloat64);
    const std::string bytes = encode_policy_request(sent, 3);
    const PolicyRequest received = parse_policy_request(
        decode_msg_map(bytes.data(), bytes.size(), "request"), cfg.model.n_cam);
    expect_same_inputs(from_file, encoder.encode({received.obs}), frame + ", file against request");

    // the rounding matters: features of the unrounded float64 state differ in the rotation
    const torch::Tensor unrounded = state_features(sent.state);
    rotated_frames += !torch::equal(unrounded, observation_state_features(sent.state));
  }
  EXPECT_GE(rotated_frames, 1) << "the test cannot tell the float32 rounding from none";
  std::filesystem::remove_all(dir);
}

TEST(Observation, ABadObservationIsAnErrorNamingTheField) {
  Config cfg = test::tiny_config();
  Normalizer normalizer;
  normalizer.state =
      NormStats::compute(torch::randn({16, state_feature_dim}), NormMode::MeanStd, 0.01);
  const WordTokenizer tokenizer = WordTokenizer::build({"open the drawer"});
  const ObservationEncoder encoder(cfg.model, normalizer, tokenizer, "ckpt");
  Observation good;
  good.images = {torch::zeros({40, 40, 3}, torch::kUInt8),
                 torch::zeros({40, 40, 3}, torch::kUInt8)};
  good.state = torch::zeros({raw_state_dim});
  good.instruction = "open the drawer";
  const ObservationBatch b = encoder.encode({good, good});
  EXPECT_EQ(b.images.sizes(), torch::IntArrayRef({2, 2, 3, 32, 32}));
  EXPECT_EQ(b.state.sizes(), torch::IntArrayRef({2, state_feature_dim}));
  Observation one_camera = good;
  one_camera.images.pop_back();
  test::expect_error([&] { encoder.encode({one_camera}); }, {"1 images", "expected 2"});
  Observation gray = good;
  gray.images[1] = torch::zeros({40, 40}, torch::kUInt8);
  test::expect_error([&] { encoder.encode({gray}); }, {"observation.images[1]", "[40, 40]"});
  Observation short_state = good;
  short_state.state = torch::zeros({7});
  test::expect_error([&] { encoder.encode({short_state}); }, {"observation.state", "[7]", "[8]"});
  Observation integer_state = good;
  integer_state.state = torch::zeros({raw_state_dim}, torch::kInt64);
  test::expect_error([&] { encoder.encode({integer_state}); }, {"observation.state", "Long"});
  Observation nan_state = good;
  nan_state.state = good.state.clone();  // a copied Observation shares its tensors
  nan_state.state[2] = std::nan("");
  test::expect_error([&] { encoder.encode({nan_state}); }, {"observation.state", "NaN"});
  Observation far = good;
  far.state = good.state.clone();
  far.state[0] = 1e6;
  test::expect_error([&] { encoder.encode({far}); }, {"out of range", "ee position x", "'ckpt'"});
}

}  // namespace
}  // namespace avla
