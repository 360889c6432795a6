#include "model/vla.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "flow/sampler.h"
#include "model/vision_encoder.h"
#include "model/vision_probe.h"
#include "test_util.h"

namespace avla {
namespace {

struct Fixture {
  Config cfg = test::tiny_config();
  VLA model{nullptr};
  ObservationBatch obs;
  torch::Tensor noisy, time;
  Fixture() {
    torch::manual_seed(3);
    model = VLA(cfg.model);
    model->eval();
    obs = test::random_observation(cfg.model, 3, 4);
    noisy = torch::randn({3, cfg.model.chunk_len, cfg.model.action_dim});
    time = torch::rand({3, cfg.model.chunk_len});
  }
};

TEST(VLA, PrefixLengthAndShapes) {
  Fixture f;
  // tiny: 32x32 images, patch 8 -> 4x4 grid -> 2x2 merged = 4 tokens per camera
  EXPECT_EQ(f.cfg.model.tokens_per_cam(), 4);
  EXPECT_EQ(f.cfg.model.prefix_len(), 2 * 4 + 8 + 1);
  torch::NoGradGuard ng;
  KvCache cache = f.model->encode_prefix(f.obs);
  EXPECT_EQ(cache.layers.size(), 2u);
  EXPECT_EQ(cache.layers[0].k.sizes(), torch::IntArrayRef({3, 2, 17, 16}));
  EXPECT_EQ(f.model->velocity(cache, f.noisy, f.time).sizes(), torch::IntArrayRef({3, 4, 7}));
}

// which of the 4x4 patch features of a tiny 32x32 image change when pixel (7, 7), the last
// pixel of patch (0, 0), changes
torch::Tensor patches_touched_by_corner_pixel(const std::string& stem) {
  ModelConfig mc = test::tiny_config().model;
  mc.vision_stem = stem;
  torch::manual_seed(5);
  VisionEncoder enc(mc);
  torch::NoGradGuard ng;
  torch::Tensor pixels = torch::rand({1, 3, 32, 32}) * 2 - 1;
  torch::Tensor feat = enc->embed_patches(pixels);  // (1, vision_dim, 4, 4)
  EXPECT_EQ(feat.sizes(), torch::IntArrayRef({1, 32, 4, 4}));
  torch::Tensor moved = pixels.clone();
  moved.index_put_({0, torch::indexing::Slice(), 7, 7}, 0.9);
  return (enc->embed_patches(moved) - feat).abs().amax(1)[0].gt(1e-6);  // (4, 4) bool
}

TEST(VisionEncoder, PatchStemIsLocalConvStemSeesAcrossPatchBorders) {
  // kernel = stride = 8: only patch (0, 0) sees the pixel
  torch::Tensor patch = patches_touched_by_corner_pixel("patch");
  EXPECT_EQ(patch.sum().item<int64_t>(), 1);
  EXPECT_TRUE(patch[0][0].item<bool>());
  // three 3x3 stride-2 convs: output j sees pixels 8j-7 .. 8j+7, so pixel 7 reaches patches
  // (0..1, 0..1) and no further
  torch::Tensor conv = patches_touched_by_corner_pixel("conv");
  EXPECT_EQ(conv.sum().item<int64_t>(), 4);
  EXPECT_TRUE(conv[1][1].item<bool>());
  EXPECT_FALSE(conv[2][2].item<bool>());
}

TEST(VisionEncoder, ConvStemWeightsAreNamedAndShapedByStage) {
  ModelConfig mc = test::tiny_config().model;
  mc.vision_stem = "conv";
  VLA model(mc);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : model->named_parameters()) shapes[p.key()] = p.value().sizes().vec();
  // vision_dim 32, patch 8: channels 8, 16, 32, then the 1x1 projection
  EXPECT_EQ(shapes.at("vision_encoder.stem.0.weight"), (std::vector<int64_t>{8, 3, 3, 3}));
  EXPECT_EQ(shapes.at("vision_encoder.stem.1.weight"), (std::vector<int64_t>{16, 8, 3, 3}));
  EXPECT_EQ(shapes.at("vision_encoder.stem.2.weight"), (std::vector<int64_t>{32, 16, 3, 3}));
  EXPECT_EQ(shapes.at("vision_encoder.stem_proj.weight"), (std::vector<int64_t>{32, 32, 1, 1}));
  EXPECT_EQ(shapes.count("vision_encoder.patch_embed.weight"), 0u);
  // the token grid is the patch stem's
  torch::NoGradGuard ng;
  ObservationBatch obs = test::random_observation(mc, 2, 4);
  EXPECT_EQ(model->encode_prefix(obs).layers[0].k.size(2), mc.prefix_len());

  mc.vision_stem = "convs";
  test::expect_error([&] { mc.validate(); }, {"[config]", "model.vision_stem", "\"convs\""});
  mc.vision_stem = "conv";
  mc.patch_size = 6;
  mc.image_size = 36;
  test::expect_error([&] { mc.validate(); }, {"[config]", "power-of-two patch_size, found 6"});
}

TEST(Config, NumbersOfTheWrongKindOrRangeAreErrors) {
  // found by fuzz_config: nlohmann's get<int>() on 1e126 is a float-to-int overflow (undefined)
  auto parse = [](const std::string& text) {
    return config_from_json(nlohmann::json::parse(text), "x/config.json");
  };
  test::expect_error([&] { parse(R"({"model": {"d_ff": 1.5e126}})"); },
                     {"[config]", "x/config.json",
                      "'model.d_ff' has the wrong type or is out of "
                      "range (1.5e+126)"});
  test::expect_error([&] { parse(R"({"model": {"d_ff": 2147483648}})"); }, {"'model.d_ff'"});
  test::expect_error([&] { parse(R"({"model": {"d_ff": 3.5}})"); }, {"'model.d_ff'"});
  test::expect_error([&] { parse(R"({"train": {"seed": -1}})"); }, {"'train.seed'"});
  test::expect_error([&] { parse(R"({"train": {"bf16": 1}})"); }, {"'train.bf16'"});
  test::expect_error([&] { parse(R"({"train": {"lr": "big"}})"); }, {"'train.lr'"});
  // what a python script writes is fine: integral floats for ints, ints for floats
  const Config c = parse(R"({"model": {"d_ff": 2147483647}, "train": {"steps": 3000.0,
                             "lr": 1, "seed": 18446744073709551615}})");
  EXPECT_EQ(c.model.d_ff, 2147483647);
  EXPECT_EQ(c.train.steps, 3000);
  EXPECT_EQ(c.train.lr, 1.0);
  EXPECT_EQ(c.train.seed, 18446744073709551615ull);
}

TEST(VLA, RepeatedCacheEqualsEncodingRepeatedObservations) {
  // several flow draws per encoded prefix (training) must equal encoding each row k times
  Fixture f;
  torch::NoGradGuard ng;
  const int64_t k = 3;
  torch::Tensor rows = torch::arange(3, torch::kInt64).repeat_interleave(k);  // 0 0 0 1 1 1 2 2 2
  torch::Tensor noisy = torch::randn({9, f.cfg.model.chunk_len, f.cfg.model.action_dim});
  torch::Tensor time = torch::rand({9, f.cfg.model.chunk_len});
  KvCache repeated = f.model->encode_prefix(f.obs).repeat_rows(k);
  EXPECT_EQ(repeated.batch(), 9);
  torch::Tensor v = f.model->velocity(repeated, noisy, time);
  torch::Tensor want = f.model->velocity(f.model->encode_prefix(f.obs.index(rows)), noisy, time);
  EXPECT_LT(test::max_abs_diff(v, want), 1e-5);
}

TEST(VLA, RepeatedCacheRowsAndTheirGradient) {
  // rows b*k .. b*k+k-1 are row b, and the gradient of a row is the sum over its k copies
  torch::manual_seed(4);
  torch::Tensor keys = torch::randn({2, 2, 5, 4}).requires_grad_(true);
  KvCache cache;
  cache.layers.push_back({keys, keys * 2, torch::Tensor()});
  cache.key_bias = torch::zeros({2, 1, 1, 5});
  const KvCache repeated = cache.repeat_rows(3);
  EXPECT_TRUE(repeated.layers[0].k.equal(keys.repeat_interleave(3, 0)));
  EXPECT_TRUE(repeated.layers[0].v.equal((keys * 2).repeat_interleave(3, 0)));
  EXPECT_EQ(repeated.key_bias.sizes(), (std::vector<int64_t>{6, 1, 1, 5}));
  torch::Tensor up = torch::randn({6, 2, 5, 4});
  torch::Tensor grad = torch::autograd::grad({(repeated.layers[0].k * up).sum()}, {keys})[0];
  EXPECT_LT(test::max_abs_diff(grad, up.view({2, 3, 2, 5, 4}).sum(1)), 1e-6);
}

TEST(VLA, CachedVelocityEqualsFullRecompute) {
  Fixture f;
  torch::NoGradGuard ng;
  KvCache cache = f.model->encode_prefix(f.obs);
  torch::Tensor cached = f.model->velocity(cache, f.noisy, f.time);
  torch::Tensor full = f.model->velocity_full(f.obs, f.noisy, f.time);
  EXPECT_LT(test::max_abs_diff(cached, full), 1e-5);
  EXPECT_GT(full.abs().mean().item<double>(), 1e-3);  // not trivially zero
  // the same cache serves a second, different step
  torch::Tensor noisy2 = torch::randn_like(f.noisy);
  EXPECT_LT(test::max_abs_diff(f.model->velocity(cache, noisy2, f.time),
                               f.model->velocity_full(f.obs, noisy2, f.time)),
            1e-5);
}

TEST(VLA, SceneTokenSitsAfterTheImagesAndCarriesTheProbesEstimates) {
  Config cfg = test::tiny_config();
  cfg.model.scene_slots = 3;
  EXPECT_EQ(cfg.model.prefix_len(), 2 * 4 + 1 + 8 + 1);
  torch::manual_seed(3);
  VLA model(cfg.model);
  model->eval();
  const ObservationBatch obs = test::random_observation(cfg.model, 2, 4);
  torch::Tensor noisy = torch::randn({2, cfg.model.chunk_len, cfg.model.action_dim});
  torch::Tensor time = torch::rand({2, cfg.model.chunk_len});
  torch::NoGradGuard ng;
  KvCache cache = model->encode_prefix(obs);
  EXPECT_EQ(cache.layers[0].k.size(2), 18);
  torch::Tensor cached = model->velocity(cache, noisy, time);
  EXPECT_LT(test::max_abs_diff(cached, model->velocity_full(obs, noisy, time)), 1e-5);
  // the layout: [presence (3) | presence * position (9) | drawer | ee (3) | rot6 (6) | gripper]
  torch::Tensor image_tokens = model->vision_encoder(obs.images);
  torch::Tensor features = model->scene_features(image_tokens);
  ASSERT_EQ(features.sizes(), torch::IntArrayRef({2, 23}));
  const ProbeOutput est = model->vision_probe(image_tokens);
  torch::Tensor presence = torch::sigmoid(est.presence_logit);
  EXPECT_LT(test::max_abs_diff(features.narrow(1, 0, 3), presence), 1e-6);
  EXPECT_LT(test::max_abs_diff(features.narrow(1, 3, 9).reshape({2, 3, 3}),
                               est.slot_pos * presence.unsqueeze(2)),
            1e-6);
  EXPECT_LT(test::max_abs_diff(features.select(1, 12), est.drawer), 1e-6);
  EXPECT_LT(test::max_abs_diff(features.narrow(1, 13, 3), est.ee_pos), 1e-6);
  EXPECT_LT(test::max_abs_diff(features.select(1, 22), est.gripper), 1e-6);
  // the token reaches the actions: another probe output moves the velocity
  model->vision_probe->fc2->bias.add_(1.0);
  EXPECT_GT(test::max_abs_diff(cached, model->velocity(model->encode_prefix(obs), noisy, time)),
            1e-4);
  // a model without the token has neither module nor features
  VLA plain(test::tiny_config().model);
  EXPECT_FALSE(plain->vision_probe);
  test::expect_error([&] { plain->scene_features(image_tokens); }, {"scene_slots"});
}

TEST(VLA, PrefixOutputsDoNotDependOnActions) {
  Fixture f;
  torch::NoGradGuard ng;
  auto [prefix, valid] = f.model->embed_prefix(f.obs);
  auto act = [&](const torch::Tensor& noisy) { return f.model->action_embedding(noisy, f.time); };
  torch::Tensor h1, h2;
  torch::Tensor v1 = f.model->backbone->forward_full(prefix, valid, act(f.noisy), &h1);
  torch::Tensor v2 = f.model->backbone->forward_full(prefix, valid, act(f.noisy * 3 + 1), &h2);
  EXPECT_TRUE(torch::equal(h1, h2));
  EXPECT_GT(test::max_abs_diff(v1, v2), 1e-3);  // the action outputs do change
  KvCache cache = f.model->backbone->encode_prefix(prefix, valid);
  EXPECT_LT(test::max_abs_diff(cache.prefix_hidden, h1), 1e-5);
}

TEST(VLA, PaddingTokensAreIgnored) {
  Fixture f;
  torch::NoGradGuard ng;
  torch::Tensor v = f.model->velocity_full(f.obs, f.noisy, f.time);
  ObservationBatch other = f.obs;
  other.tokens = f.obs.tokens.clone().masked_fill(f.obs.token_mask.logical_not(), 5);
  EXPECT_LT(test::max_abs_diff(v, f.model->velocity_full(other, f.noisy, f.time)), 1e-6);
  // a real token does matter
  other.tokens = f.obs.tokens.clone();
  other.tokens[0][0] = (other.tokens[0][0].item<int64_t>() + 1) % f.cfg.model.vocab_size;
  EXPECT_GT(test::max_abs_diff(v, f.model->velocity_full(other, f.noisy, f.time)), 1e-4);
}

TEST(VLA, WrongShapesNameTheField) {
  Fixture f;
  torch::NoGradGuard ng;
  ObservationBatch bad = f.obs;
  bad.images = torch::zeros({3, 2, 3, 16, 16}, torch::kUInt8);
  test::expect_error([&] { f.model->encode_prefix(bad); },
                     {"[vision_encoder] images have shape [3, 2, 3, 16, 16]"});
  KvCache cache = f.model->encode_prefix(f.obs);
  test::expect_error(
      [&] {
        f.model->velocity(cache, torch::zeros({3, 5, 7}), f.time);
      },
      {"[vla] noisy actions have shape [3, 5, 7], expected [B,4,7]"});
}

TEST(Sampler, AfmKeepsUnmaskedTokensBitIdentical) {
  Fixture f;
  torch::NoGradGuard ng;
  KvCache cache = f.model->encode_prefix(f.obs);
  const auto& mc = f.cfg.model;
  torch::Tensor noise = torch::randn({3, mc.chunk_len, mc.action_dim});
  torch::Tensor sfm = sample_sfm(*f.model, cache, noise, mc.n_flow_steps);
  torch::Tensor mask =
      torch::tensor({1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1}, torch::kBool).view({3, 4});
  torch::Tensor noise2 = torch::randn_like(noise);
  torch::Tensor afm = sample_afm(*f.model, cache, sfm, mask, noise2, mc.n_flow_steps);
  torch::Tensor keep = mask.logical_not();
  EXPECT_TRUE(torch::equal(afm.index({keep}), sfm.index({keep})));
  // masked tokens were regenerated
  EXPECT_GT(test::max_abs_diff(afm.index({mask}), sfm.index({mask})), 1e-4);
  // an all-zero mask returns the sfm chunk unchanged
  EXPECT_TRUE(torch::equal(sample_afm(*f.model, cache, sfm, torch::zeros({3, 4}), noise2, 3), sfm));
}

TEST(Sampler, SfmEqualsAllOnesAfmAndUncachedEuler) {
  Fixture f;
  torch::NoGradGuard ng;
  const auto& mc = f.cfg.model;
  KvCache cache = f.model->encode_prefix(f.obs);
  torch::Tensor noise = torch::randn({3, mc.chunk_len, mc.action_dim});
  torch::Tensor sfm = sample_sfm(*f.model, cache, noise, 5);
  torch::Tensor garbage = torch::full_like(noise, 123.0);  // ignored where every token is masked
  EXPECT_TRUE(
      torch::equal(sample_afm(*f.model, cache, garbage, torch::ones({3, 4}), noise, 5), sfm));
  // the same euler loop written out with full recomputation every step
  torch::Tensor x = noise.clone();
  for (int k = 0; k < 5; ++k) {
    double tau = 1.0 - k * 0.2;
    x = x - 0.2 * f.model->velocity_full(f.obs, x, torch::full({3, 4}, tau));
  }
  EXPECT_LT(test::max_abs_diff(sfm, x), 1e-5);
}

}  // namespace
}  // namespace avla
