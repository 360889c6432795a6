// vision pretraining: the probe learns where the objects are on a small corpus, the encoder it
// writes loads strictly into a policy (a mismatched one is an error naming the field or the
// tensor), and a policy started from it trains, frozen or fine-tuned.
#include "train/vision_pretrain.h"

#include <gtest/gtest.h>

#include "checkpoint/pretrained_vision.h"
#include "io/json_file.h"
#include "policy/policy.h"
#include "sim/corpus.h"
#include "test_util.h"
#include "tiny_policy.h"
#include "train/train_state.h"

namespace avla {
namespace {

// one small corpus and one pretrained tiny encoder per test process
struct Pretrained {
  std::string corpus, encoder;
  ProbeMetrics heldout, trained;  // on the held-out frames; on the frames it trained on
};

const Pretrained& pretrained() {
  static const Pretrained p = [] {
    Pretrained r{
        test::temp_dir("vp_corpus") + "/corpus.safetensors", test::temp_dir("vp_enc"), {}, {}};
    sim::CorpusOptions corpus;
    corpus.suites = {"goal"};
    corpus.frames = 160;
    corpus.resolution = 32;
    corpus.out = r.corpus;
    sim::write_corpus(corpus);
    PretrainVisionOptions opt;
    opt.corpus = {r.corpus};
    opt.config = test::tiny_config();
    opt.config.train.steps = 250;
    opt.config.train.batch = 32;
    opt.config.train.lr = 2e-3;
    opt.config.train.log_every = 50;
    opt.config.train.aug_shift = 0;
    opt.out_dir = r.encoder;
    opt.holdout = 32;
    opt.eval_every = 1000;
    r.heldout = pretrain_vision(opt);
    // the written encoder and probe, read back, on the 128 training frames
    const VisionCorpus frames = load_vision_corpus({r.corpus}, opt.config.model.image_size);
    const VisionCorpus train = frames.rows(0, 128);
    VisionEncoder encoder(opt.config.model);
    load_pretrained_vision(*encoder, opt.config.model, r.encoder);
    ModelConfig with_yaw = opt.config.model;
    with_yaw.probe_yaw = pretrained_probe_yaw(r.encoder);  // a format-2 corpus: yes
    VisionProbe probe(with_yaw, frames.n_slot());
    load_module_strict(*probe, r.encoder + "/probe.safetensors", "probe.");
    r.trained = evaluate_probe(*encoder, *probe, train, train.mean_slot_pos());
    return r;
  }();
  return p;
}

// a tiny policy run of `steps` steps in a fresh directory `name`, its encoder from `encoder`;
// frozen (and cached) or fine-tuned
TrainOptions policy_options(const std::string& encoder, int steps, const std::string& name,
                            bool freeze, bool cache = false) {
  TrainOptions opt;
  opt.data = {test::tiny_data_dir()};
  opt.config = test::tiny_config();
  opt.config.train.steps = steps;
  opt.config.train.init_vision = encoder;
  opt.config.train.freeze_vision = freeze;
  opt.config.train.cache_vision = cache;
  if (cache) opt.config.train.aug_shift = 0;
  opt.out_dir = test::temp_dir(name);
  return opt;
}

// a short pretraining of the tiny preset on corpus into out: batch 8, 32 frames held out
PretrainVisionOptions short_pretrain(const std::string& corpus, const std::string& out, int steps) {
  PretrainVisionOptions opt;
  opt.corpus = {corpus};
  opt.config = test::tiny_config();
  opt.config.train.steps = steps;
  opt.config.train.batch = 8;
  opt.out_dir = out;
  opt.holdout = 32;
  opt.eval_every = 1000;
  return opt;
}

TEST(VisionPretrain, ProbeLossMatchesHandComputedTerms) {
  VisionCorpus b;
  b.slots = {"a#0", "b#0"};
  b.slot_present = torch::tensor({{1.f, 0.f}});
  b.slot_pos = torch::tensor({{{0.1f, 0.2f, 0.0f}, {5.f, 5.f, 5.f}}});
  b.cabinet = torch::tensor({0.f});
  b.drawer = torch::tensor({0.1f});
  b.ee_pos = torch::tensor({{0.f, 0.f, 0.1f}});
  b.ee_rot6 = torch::tensor({{1.f, 0.f, 0.f, 0.f, 1.f, 0.f}});
  b.gripper = torch::tensor({0.04f});
  ProbeOutput out;
  out.presence_logit = torch::tensor({{0.f, 0.f}});
  out.slot_pos = torch::tensor({{{1.f, 2.f, 1.f}, {0.f, 0.f, 0.f}}});  // error only in z: 1
  out.drawer = torch::tensor({7.f});                                   // no cabinet: ignored
  out.ee_pos = torch::tensor({{0.f, 0.f, 0.f}});                       // error 1 in z
  out.ee_rot6 = b.ee_rot6.clone();
  out.gripper = torch::tensor({0.f});  // error 1 (0.04 / 0.04)
  const ProbeLoss l = probe_loss(out, b);
  EXPECT_NEAR(l.presence, std::log(2.0), 1e-6);
  EXPECT_NEAR(l.position, 1.0 / 3.0, 1e-6);  // absent slot 1 is not counted
  EXPECT_NEAR(l.drawer, 0.0, 1e-9);
  EXPECT_NEAR(l.ee, 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(l.gripper, 1.0, 1e-6);
  EXPECT_NEAR(l.total.item<double>(), std::log(2.0) + 1.0 / 3.0 + 1.0 / 3.0 + 1.0, 1e-5);
  EXPECT_EQ(l.yaw, 0.0);  // no yaw heads
  // yaw heads: squared error of the present slots' features only
  b.slot_yaw = torch::tensor({{{0.f, 1.f}, {0.f, 0.f}}});
  out.slot_yaw = torch::tensor({{{1.f, 0.f}, {9.f, 9.f}}});  // error 1 in each feature
  const ProbeLoss y = probe_loss(out, b);
  EXPECT_NEAR(y.yaw, 1.0, 1e-6);
  EXPECT_NEAR(y.total.item<double>(), l.total.item<double>() + 1.0, 1e-5);
  // yaw heads without yaw labels (a version-1 corpus) are an error
  b.slot_yaw = torch::Tensor();
  test::expect_error([&] { probe_loss(out, b); }, {"yaw", "slot_yaw"});
}

TEST(VisionPretrain, ProbeLearnsWhereTheObjectsAreBetterThanTheMeanGuess) {
  const Pretrained& p = pretrained();
  std::printf(
      "trained frames: object %.2f cm (mean guess %.2f), ee %.2f cm, drawer %.2f cm; "
      "held out: object %.2f cm (mean guess %.2f), ee %.2f cm\n",
      p.trained.object_cm, p.trained.object_cm_mean, p.trained.ee_cm, p.trained.drawer_cm,
      p.heldout.object_cm, p.heldout.object_cm_mean, p.heldout.ee_cm);
  EXPECT_EQ(p.heldout.frames, 32);
  EXPECT_EQ(p.trained.frames, 128);
  EXPECT_GT(p.trained.object_cm_mean, 1.0);
  // on the frames it trained on, the position error falls well below each slot's mean position
  EXPECT_LT(p.trained.object_cm, 0.6 * p.trained.object_cm_mean);
  EXPECT_GE(p.trained.presence_accuracy, 0.99);  // one scene: presence is constant
  EXPECT_TRUE(std::isfinite(p.heldout.object_cm) && p.heldout.object_cm > 0);
  // the cubes' yaw, against guessing the layouts' mean (square, 0 degrees) for every cube
  const VisionCorpus frames = load_vision_corpus({p.corpus}, 16).rows(0, 128);
  torch::Tensor cube = frames.slot_present * (frames.slot_yaw.norm(2, 2) > 0.5);  // (N, k)
  torch::Tensor turn =
      torch::atan2(frames.slot_yaw.select(2, 0), frames.slot_yaw.select(2, 1)).abs() / 4;
  const double zero_guess =
      180.0 / M_PI * (turn * cube).sum().item<double>() / cube.sum().item<double>();
  std::printf("yaw: trained frames %.2f deg (zero guess %.2f), held out %.2f deg\n",
              p.trained.yaw_deg, zero_guess, p.heldout.yaw_deg);
  EXPECT_GT(zero_guess, 5.0);
  EXPECT_NEAR(p.trained.yaw_deg_zero_guess, zero_guess, 1e-3);  // the metric's own baseline
  EXPECT_GE(p.trained.yaw_deg_near, 0.0);
  EXPECT_LE(p.trained.yaw_deg_near_zero_guess, 23.0);  // the layouts turn a cube by <= 23 degrees
  EXPECT_GT(p.trained.yaw_deg, 0.0);
  EXPECT_LT(p.trained.yaw_deg, 0.6 * zero_guess);
  EXPECT_EQ(read_json_file(p.encoder + "/probe.json", "test").at("yaw").get<bool>(), true);
  for (const char* file : {"/config.json", "/vision_encoder.safetensors", "/probe.json",
                           "/probe.safetensors", "/metrics.jsonl"}) {
    EXPECT_TRUE(std::filesystem::exists(p.encoder + file)) << file;
  }
}

TEST(VisionPretrain, EncoderLoadsStrictlyAndMismatchesAreErrors) {
  const Pretrained& p = pretrained();
  Config cfg = test::tiny_config();
  VLA model(cfg.model);
  load_pretrained_vision(*model->vision_encoder, cfg.model, p.encoder);
  const TensorMap file = load_tensor_map(p.encoder + "/vision_encoder.safetensors");
  for (auto& [name, t] : module_state(*model->vision_encoder)) {
    EXPECT_TRUE(torch::equal(t, file.at("vision_encoder." + name))) << name;
  }
  // another vision width: the field and both values are named
  Config wide = cfg;
  wide.model.vision_dim = 48;
  VLA other(wide.model);
  test::expect_error([&] { load_pretrained_vision(*other->vision_encoder, wide.model, p.encoder); },
                     {"vision_dim", "48", "32"});
  // a tensor of the wrong shape in the file: named with both shapes
  const std::string bad = test::temp_dir("vp_bad");
  std::filesystem::copy_file(p.encoder + "/config.json", bad + "/config.json");
  TensorMap broken = file;
  broken["vision_encoder.pos_embed_row"] = torch::zeros({3, 32});
  save_tensor_map(bad + "/vision_encoder.safetensors", broken);
  test::expect_error([&] { load_pretrained_vision(*model->vision_encoder, cfg.model, bad); },
                     {"pos_embed_row", "[3,32]", "[4,32]"});
}

// a one-camera corpus (fractal's head camera) pretrains a one-camera probe: the encoder sees one
// camera at a time and loads into a two-camera policy too, the probe only into a policy with one
TEST(VisionPretrain, OneCameraCorpusPretrainsAOneCameraProbe) {
  const std::string dir = test::temp_dir("vp_one_camera");
  sim::CorpusOptions corpus;
  corpus.suites = {"fractal"};
  corpus.frames = 40;
  corpus.resolution = 32;
  corpus.out = dir + "/corpus.safetensors";
  sim::write_corpus(corpus);
  PretrainVisionOptions opt;
  opt.corpus = {corpus.out};
  opt.config = test::tiny_config();
  ASSERT_EQ(opt.config.model.n_cam, 2);  // the preset's; the corpus decides
  opt.config.train.steps = 10;
  opt.config.train.batch = 8;
  opt.config.train.aug_shift = 0;
  opt.out_dir = dir + "/encoder";
  opt.holdout = 8;
  opt.eval_every = 1000;
  const ProbeMetrics m = pretrain_vision(opt);
  EXPECT_EQ(m.frames, 8);
  const nlohmann::json saved = read_json_file(opt.out_dir + "/config.json", "test");
  EXPECT_EQ(saved.at("model").at("n_cam").get<int>(), 1);

  Config two = test::tiny_config();
  VLA model(two.model);
  load_pretrained_vision(*model->vision_encoder, two.model, opt.out_dir);  // per camera: fine
  const int slots = pretrained_probe_slots(opt.out_dir);
  two.model.probe_yaw = pretrained_probe_yaw(opt.out_dir);  // a format-2 corpus
  EXPECT_TRUE(two.model.probe_yaw);
  VisionProbe probe_two(two.model, slots);
  test::expect_error([&] { load_pretrained_probe(*probe_two, two.model, opt.out_dir); },
                     {"[init-vision]", "model.n_cam is 2", "1 camera(s)"});
  Config one = two;
  one.model.n_cam = 1;
  VisionProbe probe_one(one.model, slots);
  load_pretrained_probe(*probe_one, one.model, opt.out_dir);
  const TensorMap file = load_tensor_map(opt.out_dir + "/probe.safetensors");
  for (auto& [name, t] : module_state(*probe_one)) {
    EXPECT_TRUE(torch::equal(t, file.at("probe." + name))) << name;
  }
}

// --yaw-frame grip trains the yaw heads on each object's turn from the fingers, records the frame,
// and a resume that asks for the other frame is an error naming both
TEST(VisionPretrain, GripFrameYawIsRecordedAndAResumeKeepsIt) {
  const Pretrained& p = pretrained();
  PretrainVisionOptions opt = short_pretrain(p.corpus, test::temp_dir("vp_grip"), 4);
  opt.config.train.aug_shift = 0;
  opt.yaw_frame = "grip";
  const ProbeMetrics m = pretrain_vision(opt);
  const nlohmann::json probe = read_json_file(opt.out_dir + "/probe.json", "test");
  EXPECT_EQ(probe.at("yaw_frame"), "grip");
  EXPECT_TRUE(probe.at("yaw").get<bool>());
  // the turn from the fingers spreads over the whole quarter turn (the corpus turns the grip
  // freely): its zero guess is far above the world frame's (cubes turned by <= 23 degrees)
  EXPECT_GT(m.yaw_deg_zero_guess, 1.3 * p.heldout.yaw_deg_zero_guess);
  opt.resume = true;
  opt.yaw_frame = "world";
  opt.config.train.steps = 6;
  test::expect_error([&] { pretrain_vision(opt); }, {"--yaw-frame grip", "world"});
}

TEST(VisionPretrain, PolicyStartsFromItFrozenOrFineTuned) {
  const Pretrained& p = pretrained();
  const TensorMap encoder = load_tensor_map(p.encoder + "/vision_encoder.safetensors");
  auto run = [&](bool freeze) {
    TrainOptions opt = policy_options(p.encoder, 20, freeze ? "vp_frozen" : "vp_tuned", freeze);
    opt.config.train.ema_decay = 0;
    const TrainResult r = train(opt);
    EXPECT_EQ(r.steps_done, 20);
    EXPECT_TRUE(std::isfinite(r.final_loss));
    // the largest change of any encoder weight from the pretrained one
    double moved = 0;
    const TensorMap saved = load_tensor_map(opt.out_dir + "/model.safetensors");
    for (const auto& [name, t] : encoder)
      moved = std::max(moved, test::max_abs_diff(t, saved.at(name)));
    return moved;
  };
  EXPECT_EQ(run(true), 0.0);  // frozen: bit-identical to the pretrained encoder
  EXPECT_GT(run(false), 1e-4);
  // freezing a random encoder is refused
  Config c = test::tiny_config();
  c.train.freeze_vision = true;
  test::expect_error([&] { c.train.validate(); }, {"freeze_vision", "init_vision"});
}

TEST(VisionPretrain, SceneTokenReadsTheFrozenProbesEstimates) {
  const Pretrained& p = pretrained();
  const int slots = pretrained_probe_slots(p.encoder);
  ASSERT_TRUE(pretrained_probe_yaw(p.encoder));
  TrainOptions opt = policy_options(p.encoder, 20, "vp_scene", true, true);
  opt.config.model.scene_slots = slots;
  opt.config.model.probe_yaw = true;
  opt.config.train.ema_decay = 0;
  const TrainResult r = train(opt);
  EXPECT_EQ(r.steps_done, 20);
  EXPECT_TRUE(std::isfinite(r.final_loss));
  // the policy carries the pretrained probe, bit-identical (frozen), and a trained projection
  const TensorMap probe = load_tensor_map(p.encoder + "/probe.safetensors");
  const TensorMap saved = load_tensor_map(opt.out_dir + "/model.safetensors");
  for (const auto& [name, t] : probe) {
    EXPECT_TRUE(torch::equal(t, saved.at("vision_" + name))) << name;
  }
  ASSERT_TRUE(saved.count("scene_proj.weight"));
  EXPECT_EQ(saved.at("scene_proj.weight").sizes(), torch::IntArrayRef({64, 6 * slots + 11}));
  // its scene features locate the objects of the corpus frames the probe trained on, in units
  // of ProbeScale::position, in the corpus's slot order
  VLA model(load_config(opt.out_dir + "/config.json").model);
  load_module_strict(*model, opt.out_dir + "/model.safetensors");
  const VisionCorpus frames =
      load_vision_corpus({p.corpus}, opt.config.model.image_size).rows(0, 128);
  torch::NoGradGuard ng;
  torch::Tensor features = model->scene_features(model->vision_encoder(frames.images));
  torch::Tensor present = frames.slot_present.to(torch::kFloat32);  // (N, k)
  torch::Tensor presence = features.narrow(1, 0, slots);            // (N, k)
  torch::Tensor pos = features.narrow(1, slots, 3 * slots).reshape({-1, slots, 3}) /
                      presence.unsqueeze(2) * ProbeScale::position;
  auto mean_error_cm = [&](const torch::Tensor& guess) {
    torch::Tensor err = (guess - frames.slot_pos).norm(2, 2) * present;  // (N, k)
    return 100.0 * err.sum().item<double>() / present.sum().item<double>();
  };
  const double error = mean_error_cm(pos);
  const double mean_guess = mean_error_cm(frames.mean_slot_pos().unsqueeze(0));
  std::printf("scene features: objects %.2f cm, mean guess %.2f cm\n", error, mean_guess);
  EXPECT_NEAR(error, p.trained.object_cm, 0.01);  // the probe's own error on these frames
  EXPECT_LT(error, 0.6 * mean_guess);
  EXPECT_GT(presence.mul(present).sum().item<double>(),
            0.9 * present.sum().item<double>());  // presence read where objects are
  // the last 2k features are the probe's yaw estimates, weighted by presence like the positions
  const ProbeOutput est = model->vision_probe(model->vision_encoder(frames.images));
  torch::Tensor yaw = features.narrow(1, 4 * slots + 11, 2 * slots).reshape({-1, slots, 2});
  EXPECT_LT(test::max_abs_diff(yaw, est.slot_yaw * presence.unsqueeze(2)), 1e-5);
  // the checkpoint acts like any other: the policy builds the token from its two cameras, and
  // the token moves the chunk (a policy whose probe answers differently acts differently)
  Policy policy(opt.out_dir);
  const Observation obs = test::synthetic_observation(test::tiny_data_dir(), 3);
  ActOptions act;
  act.binarize_gripper = false;
  const torch::Tensor chunk = policy.act(obs, act).actions;
  EXPECT_EQ(chunk.sizes(), torch::IntArrayRef({4, 7}));
  policy.model().vision_probe->fc2->bias.add_(0.5);
  EXPECT_GT(test::max_abs_diff(chunk, policy.act(obs, act).actions), 1e-4);
  // a token sized for another probe is an error naming both slot counts
  TrainOptions wrong = opt;
  wrong.config.model.scene_slots = slots + 1;
  wrong.out_dir = test::temp_dir("vp_scene_wrong");
  test::expect_error([&] { train(wrong); },
                     {"scene_slots", std::to_string(slots + 1), std::to_string(slots)});
  // a token without the probe's yaw heads is an error naming probe_yaw
  TrainOptions no_yaw = opt;
  no_yaw.config.model.probe_yaw = false;
  no_yaw.out_dir = test::temp_dir("vp_scene_no_yaw");
  test::expect_error([&] { train(no_yaw); }, {"probe_yaw", "with yaw labels"});
  // and one without a pretrained encoder is refused
  TrainOptions bare = opt;
  bare.config.train.init_vision.clear();
  bare.config.train.freeze_vision = false;
  bare.config.train.cache_vision = false;
  bare.out_dir = test::temp_dir("vp_scene_bare");
  test::expect_error([&] { train(bare); }, {"scene_slots", "init_vision"});
}

TEST(VisionPretrain, CachedFrozenTokensTrainTheSameRunAsTheEncoder) {
  const Pretrained& p = pretrained();
  auto run = [&](bool cache) {
    TrainOptions opt =
        policy_options(p.encoder, 6, cache ? "vp_cached" : "vp_uncached", true, cache);
    opt.config.train.log_every = 3;
    opt.config.train.aug_shift = 0;
    train(opt);
    return opt.out_dir;
  };
  const std::string uncached = run(false), cached = run(true);
  // the same weights and adam moments after 6 steps (float jitter of the backward aside)
  EXPECT_LE(test::run_difference(uncached, cached), 1e-5);
  // caching with augmentation on is refused by name
  Config c = test::tiny_config();
  c.train.init_vision = p.encoder;
  c.train.freeze_vision = true;
  c.train.cache_vision = true;
  c.train.aug_shift = 4;
  test::expect_error([&] { c.train.validate(); }, {"cache_vision", "aug_shift"});
}

TEST(VisionPretrain, StoppedAndResumedRunEqualsTheUninterruptedOne) {
  const Pretrained& p = pretrained();
  auto options = [&](const std::string& out) {
    PretrainVisionOptions opt = short_pretrain(p.corpus, out, 10);
    opt.config.train.log_every = 5;
    return opt;
  };
  const std::string whole = test::temp_dir("vp_whole"), parts = test::temp_dir("vp_parts");
  pretrain_vision(options(whole));
  // 4 steps, a stop with a saved state, then a resume whose own flags say nothing but the budget
  PretrainVisionOptions first = options(parts);
  first.stop_after = 4;
  pretrain_vision(first);
  EXPECT_EQ(load_train_state(parts).step, 4);
  PretrainVisionOptions second = options(parts);
  second.config.train.lr = 5e-2;  // ignored: a resumed run keeps its own config
  second.resume = true;
  pretrain_vision(second);
  EXPECT_EQ(load_train_state(parts).step, 10);
  const std::vector<std::string> files = {"/vision_encoder.safetensors", "/probe.safetensors",
                                          "/train_state.safetensors"};
  EXPECT_LE(test::run_difference(whole, parts, files), 1e-6);
  // against a run that differs from the first step: the comparison can fail
  PretrainVisionOptions other = options(test::temp_dir("vp_other"));
  other.config.train.lr = 5e-2;
  pretrain_vision(other);
  EXPECT_GT(test::run_difference(whole, other.out_dir, files), 1e-4);
  // without --resume an existing run is refused by name
  test::expect_error([&] { pretrain_vision(options(parts)); }, {"already holds", "--resume"});
}

}  // namespace
}  // namespace avla
