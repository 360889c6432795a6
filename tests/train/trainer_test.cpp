#include "train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>

#include "checkpoint/checkpoint.h"
#include "data/chunk_sampler.h"
#include "data/image_augment.h"
#include "data/object_state.h"
#include "flow/sampler.h"
#include "io/atomic_file.h"
#include "io/tensor_file.h"
#include "model/backend.h"
#include "model/rater.h"
#include "test_util.h"
#include "tiny_policy.h"
#include "train/batch_prefetcher.h"
#include "train/ema.h"
#include "train/optimizer.h"
#include "train/train_state.h"

namespace avla {
namespace {

namespace fs = std::filesystem;

TrainOptions tiny_options(const std::string& out, int steps) {
  TrainOptions opt;
  opt.data = {test::tiny_data_dir()};
  opt.config = test::tiny_config();
  opt.config.train.steps = steps;
  opt.config.train.log_every = 5;
  opt.config.train.save_every = 1000;
  opt.out_dir = out;
  return opt;
}

// lr 1, 110 steps with 10 of warm-up, floor 0.1
TrainConfig schedule_config() {
  TrainConfig c;
  c.lr = 1.0;
  c.steps = 110;
  c.warmup_steps = 10;
  c.min_lr_ratio = 0.1;
  return c;
}

TEST(Schedule, WarmupThenCosine) {
  const TrainConfig c = schedule_config();
  EXPECT_DOUBLE_EQ(learning_rate_at(0, c), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate_at(9, c), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate_at(10, c), 1.0);
  EXPECT_NEAR(learning_rate_at(60, c), 0.1 + 0.9 * 0.5, 1e-12);  // half way: cos = 0
  EXPECT_NEAR(learning_rate_at(110, c), 0.1, 1e-12);
}

TEST(Schedule, TimeProgressEndsTheCosineEarly) {
  const TrainConfig c = schedule_config();
  // at step 20 of 110 but half the time used: cosine half way
  EXPECT_NEAR(learning_rate_at(20, c, 0.5), 0.1 + 0.9 * 0.5, 1e-12);
  EXPECT_NEAR(learning_rate_at(20, c, 1.0), 0.1, 1e-12);
  // the step fraction wins when it is ahead of the time
  EXPECT_NEAR(learning_rate_at(60, c, 0.1), 0.1 + 0.9 * 0.5, 1e-12);
  // warm-up is by steps
  EXPECT_DOUBLE_EQ(learning_rate_at(4, c, 0.9), 0.5);
}

TEST(Ema, AveragesWithWarmedUpDecay) {
  torch::nn::Linear model(2, 1), average(2, 1);
  {
    torch::NoGradGuard ng;
    model->weight.fill_(1.0);
    model->bias.fill_(0.0);
  }
  WeightEma ema(*model, *average, 0.9);
  EXPECT_TRUE(torch::equal(average->weight, model->weight));
  EXPECT_DOUBLE_EQ(ema.decay_at(1), 2.0 / 11.0);
  EXPECT_DOUBLE_EQ(ema.decay_at(1000), 0.9);
  {
    torch::NoGradGuard ng;
    model->weight.fill_(3.0);
  }
  ema.update(1);  // d = 2/11: 2/11 * 1 + 9/11 * 3
  EXPECT_NEAR(average->weight[0][0].item<double>(), 2.0 / 11 + 27.0 / 11, 1e-6);
  ema.update(1000);  // d = 0.9
  EXPECT_NEAR(average->weight[0][1].item<double>(), 0.9 * (29.0 / 11) + 0.1 * 3, 1e-6);
  EXPECT_NEAR(model->weight[0][0].item<double>(), 3.0, 0);  // the model itself is untouched
}

TEST(AdamW, FirstStepMovesByLearningRate) {
  // with bias correction the first update is lr * g / (|g| + eps) = lr * sign(g)
  torch::Tensor p = torch::tensor({1.0, -2.0}, torch::kFloat64).requires_grad_(true);
  TrainConfig c;
  c.weight_decay = 0.0;
  AdamW opt({{"g", {{"p", p}}, 0.5}}, c);
  p.mutable_grad() = torch::tensor({3.0, -0.5}, torch::kFloat64);
  opt.step(0.1);
  EXPECT_NEAR(p[0].item<double>(), 1.0 - 0.05, 1e-7);
  EXPECT_NEAR(p[1].item<double>(), -2.0 + 0.05, 1e-7);
  EXPECT_NEAR(opt.clip_grad_norm(1.0), std::sqrt(9.25), 1e-9);
}

// our update against LibTorch's own AdamW (decoupled decay, bias correction): five steps over two
// groups of matrices and vectors, with one parameter that has no gradient. ours decays matrices
// only, so the reference decays the matrix group and not the vector group. both of our paths:
// the one-pass cpu update and the multi-tensor ops (what cuda runs)
class AdamWPaths : public ::testing::TestWithParam<bool> {};

TEST_P(AdamWPaths, FiveStepsMatchLibTorchsAdamW) {
  std::optional<PlainOpsScope> plain;
  if (!GetParam()) plain.emplace();
  torch::manual_seed(3);
  TrainConfig c;
  c.weight_decay = 0.1;
  std::vector<torch::Tensor> mats = {torch::randn({4, 3}), torch::randn({2, 5})};
  std::vector<torch::Tensor> vecs = {torch::randn({3}), torch::randn({6})};
  torch::Tensor idle = torch::randn({3, 3});
  auto clone_all = [](const std::vector<torch::Tensor>& ts) {
    std::vector<torch::Tensor> out;
    for (const auto& t : ts) out.push_back(t.clone().requires_grad_(true));
    return out;
  };
  std::vector<torch::Tensor> our_mats = clone_all(mats), our_vecs = clone_all(vecs);
  std::vector<torch::Tensor> ref_mats = clone_all(mats), ref_vecs = clone_all(vecs);
  torch::Tensor our_idle = idle.clone().requires_grad_(true);
  AdamW ours({{"mats", {{"a", our_mats[0]}, {"idle", our_idle}, {"b", our_mats[1]}}, 1.0},
              {"vecs", {{"c", our_vecs[0]}, {"d", our_vecs[1]}}, 0.5}},
             c);
  const double lr = 0.01;
  auto opts = [&](double group_lr, double wd) {
    return torch::optim::AdamWOptions(group_lr)
        .betas({c.beta1, c.beta2})
        .eps(c.adam_eps)
        .weight_decay(wd);
  };
  torch::optim::AdamW ref_mat_opt(ref_mats, opts(lr, c.weight_decay));
  torch::optim::AdamW ref_vec_opt(ref_vecs, opts(lr * 0.5, 0.0));
  for (int step = 0; step < 5; ++step) {
    for (size_t i = 0; i < mats.size(); ++i) {
      const torch::Tensor g = torch::randn(mats[i].sizes());
      our_mats[i].mutable_grad() = g.clone();
      ref_mats[i].mutable_grad() = g.clone();
    }
    for (size_t i = 0; i < vecs.size(); ++i) {
      const torch::Tensor g = torch::randn(vecs[i].sizes());
      our_vecs[i].mutable_grad() = g.clone();
      ref_vecs[i].mutable_grad() = g.clone();
    }
    // clipped on steps 2 and 4 (the norm of these gradients is about 5): ours scales inside the
    // update, the reference through LibTorch's clip_grad_norm_ over both groups
    const double max_norm = step % 2 == 1 ? 1.0 : 100.0;
    std::vector<torch::Tensor> ref_all = ref_mats;
    ref_all.insert(ref_all.end(), ref_vecs.begin(), ref_vecs.end());
    const double ref_norm = torch::nn::utils::clip_grad_norm_(ref_all, max_norm);
    EXPECT_NEAR(ours.clip_grad_norm(max_norm), ref_norm, 1e-5 * ref_norm);
    EXPECT_EQ(ref_norm > max_norm, step % 2 == 1);
    ours.step(lr);
    ref_mat_opt.step();
    ref_vec_opt.step();
  }
  for (size_t i = 0; i < mats.size(); ++i) {
    EXPECT_TRUE(torch::allclose(our_mats[i], ref_mats[i], 1e-5, 1e-6)) << "matrix " << i;
    EXPECT_FALSE(torch::allclose(our_mats[i], mats[i], 1e-3, 1e-3)) << "matrix " << i;
  }
  for (size_t i = 0; i < vecs.size(); ++i) {
    EXPECT_TRUE(torch::allclose(our_vecs[i], ref_vecs[i], 1e-5, 1e-6)) << "vector " << i;
  }
  EXPECT_TRUE(our_idle.equal(idle));  // no gradient: no update, no decay
}

INSTANTIATE_TEST_SUITE_P(AdamW, AdamWPaths, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "OnePassCpu" : "MultiTensorOps";
                         });

TEST(Trainer, TinyModelLearnsSyntheticTask) {
  std::string out = test::temp_dir("learn");
  TrainOptions opt = tiny_options(out, 1000);
  opt.config.train.log_every = 50;
  TrainResult r = train(opt);
  EXPECT_EQ(r.steps_done, 1000);
  // untrained flow loss is ~ E|n - a|^2 ~ 2; measured 0.097 after 1000 steps (seed 0)
  EXPECT_LT(r.final_loss, 0.2);

  // sfm chunks on training frames come close to the ground truth (normalized units)
  Checkpoint ck = load_checkpoint(out);
  Dataset ds = load_dataset({test::tiny_data_dir() + "/synthetic_task0.hdf5",
                             test::tiny_data_dir() + "/synthetic_task1.hdf5"},
                            {32, ck.config.model.chunk_len, ck.config.train.pause_eps});
  ChunkSampler sampler(ds, ck.normalizer, *ck.tokenizer, ck.config.model.max_text_len);
  torch::NoGradGuard ng;
  torch::Tensor ids = torch::arange(0, ds.n_frames(), 3, torch::kInt64);
  TrainBatch b = sampler.batch(ids);
  KvCache cache = ck.model->encode_prefix(b.obs);
  at::Generator gen = at::detail::createCPUGenerator(5);
  torch::Tensor noise = torch::randn(b.actions.sizes(), gen);
  torch::Tensor sfm = sample_sfm(*ck.model, cache, noise, ck.config.model.n_flow_steps);
  // compare on the moving dims (x, y, z) and the gripper; rotations are constant in this task
  torch::Tensor dims = torch::tensor({0, 1, 2, 6}, torch::kInt64);
  torch::Tensor err = (sfm - b.actions).index_select(2, dims).pow(2).mean(2);  // (B, L)
  double mse = (err * b.valid).sum().item<double>() / b.valid.sum().item<double>();
  // the data's own spread on these dims (normalized) is ~0.5; the model must do far better
  double spread = b.actions.index_select(2, dims).var().item<double>();
  std::printf("trained: loss %.4f, sfm mse %.4f, data variance %.4f\n", r.final_loss, mse, spread);
  // measured: mse 0.062 against a data variance of 0.61
  EXPECT_LT(mse, 0.15);
  EXPECT_LT(mse, 0.25 * spread);
}

// the auxiliary object loss: a run with it learns to read the objects' positions from the images
// alone (the state holds no object), and its checkpoint loads as a policy's
TEST(Trainer, AuxObjectLossLearnsWhereTheObjectsAre) {
  const std::string dir = test::temp_dir("aux_object");
  test::collect_cube_on_plate(dir + "/data", 3);

  TrainOptions opt = tiny_options(dir + "/run", 400);
  opt.data = {dir + "/data"};
  opt.config.train.aux_object_weight = 1.0;
  opt.config.model.aux_object_dim = object_state_dim;
  opt.config.train.log_every = 20;
  train(opt);
  // the logged object loss falls
  std::ifstream metrics(dir + "/run/metrics.jsonl");
  std::vector<double> object_loss;
  for (std::string line; std::getline(metrics, line);) {
    object_loss.push_back(nlohmann::json::parse(line).at("loss_object").get<double>());
  }
  ASSERT_EQ(object_loss.size(), 20u);
  std::printf("object loss: first interval %.4f, last %.4f\n", object_loss.front(),
              object_loss.back());
  EXPECT_LT(object_loss.back(), 0.3 * object_loss.front());

  // the saved (ema) weights predict the standardized positions far better than their mean (0)
  Checkpoint ck = load_checkpoint(dir + "/run");
  EXPECT_EQ(ck.config.model.aux_object_dim, object_state_dim);
  DatasetOptions data_options = dataset_options(ck.config);
  data_options.object_states = true;
  const Dataset ds = load_dataset(expand_data_paths({dir + "/data"}), data_options);
  ASSERT_TRUE(ds.object_state.defined());
  ChunkSampler sampler(ds, ck.normalizer, *ck.tokenizer, ck.config.model.max_text_len);
  const TrainBatch b = sampler.batch(torch::arange(ds.n_frames(), torch::kInt64));
  torch::NoGradGuard no_grad;
  const torch::Tensor predicted = ck.model->predict_object_state(ck.model->encode_prefix(b.obs));
  const double mse = (predicted - b.object_state).pow(2).mean().item<double>();
  const double spread = b.object_state.pow(2).mean().item<double>();
  std::printf("object head: mse %.4f against the targets' spread %.4f\n", mse, spread);
  EXPECT_LT(mse, 0.25 * spread);

  // the head needs both settings, and data that carries the object states
  TrainOptions half = tiny_options(dir + "/half", 2);
  half.data = opt.data;
  half.config.train.aux_object_weight = 1.0;
  test::expect_error([&] { train(half); },
                     {"[train]", "aux_object_weight 1", "aux_object_dim 41", "found model."});
  TrainOptions synthetic = tiny_options(dir + "/synthetic", 2);
  synthetic.config = opt.config;
  test::expect_error([&] { train(synthetic); },
                     {"[data]", "synthetic_task0.hdf5:data/demo_0", "no obs/object_states"});
  fs::remove_all(dir);
}

TEST(Checkpoint, RoundTripIsExact) {
  std::string out = test::temp_dir("ckpt");
  train(tiny_options(out, 3));
  Checkpoint a = load_checkpoint(out);
  std::string out2 = test::temp_dir("ckpt2");
  save_checkpoint(out2, a.config, *a.model, a.normalizer, *a.tokenizer);
  Checkpoint b = load_checkpoint(out2);
  TensorMap sa = module_state(*a.model), sb = module_state(*b.model);
  ASSERT_EQ(sa.size(), sb.size());
  for (auto& [k, v] : sa) EXPECT_TRUE(torch::equal(v, sb.at(k))) << k;
  EXPECT_TRUE(torch::equal(a.normalizer.actions.q99, b.normalizer.actions.q99));
  EXPECT_EQ(a.tokenizer->vocab_size(), b.tokenizer->vocab_size());
  EXPECT_EQ(to_json(a.config), to_json(b.config));
}

// a copy of a stopped run whose train state has one part broken, resumed to the end
std::string resume_broken_copy(const std::string& stopped, const std::string& name,
                               const std::function<void(TensorMap&)>& breaker) {
  std::string dir = test::temp_dir(name);  // empty: the copy fills it
  fs::copy(stopped, dir, fs::copy_options::recursive);
  std::map<std::string, std::string> meta;
  TensorMap state = load_tensor_map(dir + "/train_state.safetensors", &meta);
  breaker(state);
  save_tensor_map(dir + "/train_state.safetensors", state, meta);
  TrainOptions opt = tiny_options(dir, 8);
  opt.resume = true;
  train(opt);
  return dir;
}

TEST(Prefetcher, DrawsTheSerialLoopsBatchesInItsOrder) {
  Config cfg = test::tiny_config();
  Dataset ds = load_dataset(expand_data_paths({test::tiny_data_dir()}), dataset_options(cfg));
  WordTokenizer tok = WordTokenizer::build(ds.instructions());
  Normalizer norm;
  norm.state = NormStats::compute(ds.state, NormMode::MeanStd, 0.01);
  norm.actions = NormStats::compute(ds.actions, NormMode::Quantile, 0.0);
  ChunkSampler sampler(ds, norm, tok, cfg.model.max_text_len);
  // the serial loop: ids, shift, then the step's own draws (here one randn), three times
  at::Generator serial = at::detail::createCPUGenerator(5);
  std::vector<TrainBatch> want;
  std::vector<torch::Tensor> step_draws;
  for (int k = 0; k < 3; ++k) {
    TrainBatch b = sampler.batch(sampler.sample_ids(8, serial));
    b.obs.images = random_shift(b.obs.images, 3, serial);
    want.push_back(b);
    step_draws.push_back(torch::randn({4}, serial));
  }
  // the shift moved pixels: the images are not the unshifted rows
  at::Generator plain = at::detail::createCPUGenerator(5);
  EXPECT_FALSE(
      torch::equal(want[0].obs.images, sampler.batch(sampler.sample_ids(8, plain)).obs.images));
  for (bool background : {true, false}) {
    at::Generator gen = at::detail::createCPUGenerator(5);
    BatchPrefetcher loader(sampler, 8, 3, {}, background);
    loader.request(gen);
    for (int k = 0; k < 3; ++k) {
      TrainBatch b = loader.take();
      EXPECT_TRUE(torch::equal(torch::randn({4}, gen), step_draws[k])) << k;
      loader.request(gen);
      EXPECT_TRUE(torch::equal(b.obs.images, want[k].obs.images)) << k << " " << background;
      EXPECT_TRUE(torch::equal(b.actions, want[k].actions)) << k;
      EXPECT_TRUE(torch::equal(b.obs.tokens, want[k].obs.tokens)) << k;
    }
    EXPECT_THROW(loader.request(gen), Error);  // requested twice without a take
  }
}

TEST(Trainer, PrefetchingLoaderTrainsTheSameRun) {
  std::string with = test::temp_dir("prefetch_on"), without = test::temp_dir("prefetch_off");
  TrainOptions a = tiny_options(with, 6);
  TrainOptions b = tiny_options(without, 6);
  b.prefetch = false;
  train(a);
  train(b);
  // generator bytes and step exact, floats within libtorch's backward jitter (see the resume test)
  EXPECT_LE(test::run_difference(with, without), 1e-5);
}

TEST(Trainer, ResumeEqualsUninterruptedRun) {
  std::string full = test::temp_dir("resume_full"), split = test::temp_dir("resume_split");
  train(tiny_options(full, 8));
  TrainOptions first = tiny_options(split, 8);
  first.stop_after = 3;
  EXPECT_EQ(train(first).steps_done, 3);

  // the resumed run is bit-identical to the uninterrupted one on almost every try, but LibTorch
  // 1.13's cpu backward is not bit-reproducible here: two identical runs in one process differ in
  // the last bits of a gradient in 1-10 % of tries under load (seen: weights <= 9e-7 apart after
  // 8 steps). so generator bytes and step count must match exactly and floats within 1e-5; the
  // controls show that losing the adam moments costs 1e-2 and the generator or step inf.
  std::string no_moments = resume_broken_copy(split, "resume_no_moments", [](TensorMap& s) {
    for (auto& [k, v] : s)
      if (k.rfind("adamw.m.", 0) == 0 || k.rfind("adamw.v.", 0) == 0) v.zero_();
  });
  std::string no_generator = resume_broken_copy(split, "resume_no_generator", [](TensorMap& s) {
    s["rng_state"] = at::detail::createCPUGenerator(0).get_state();
  });
  std::string no_step =
      resume_broken_copy(split, "resume_no_step", [](TensorMap& s) { s["adamw.step"].zero_(); });
  TrainOptions second = tiny_options(split, 8);
  second.resume = true;
  EXPECT_EQ(train(second).steps_done, 8);
  const double resumed = test::run_difference(full, split);
  const double moments_cost = test::run_difference(full, no_moments);
  const double generator_cost = test::run_difference(full, no_generator);
  const double step_cost = test::run_difference(full, no_step);
  std::printf(
      "max |uninterrupted - resumed| %.3g; resumed without adam moments %.3g, without the "
      "generator %.3g, without the adam step %.3g\n",
      resumed, moments_cost, generator_cost, step_cost);
  EXPECT_LE(resumed, 1e-5);
  EXPECT_GT(moments_cost, 1e-4);
  EXPECT_GT(generator_cost, 1e-4);
  EXPECT_GT(step_cost, 1e-4);
  // a second fresh run into a used directory is refused
  test::expect_error([&] { train(tiny_options(full, 8)); }, {"already holds a training run"});
}

TEST(Trainer, ResumeWithoutFlagsKeepsTheRunsPlanAndRefusesContradictions) {
  const std::string dir = test::temp_dir("resume_plan"), run = dir + "/run";
  Config config = test::tiny_config();
  config.train.log_every = 5;
  write_file_atomic(dir + "/tiny.json", to_json(config).dump(2));
  const std::string data = " train --data " + test::tiny_data_dir() + " --out " + run;
  const test::CliRun first = test::run_cli(
      data + " --config " + dir + "/tiny.json --steps 30 --time-limit 900 --stop-after 10");
  ASSERT_EQ(first.code, 0) << first.output;
  // no flags at all: the run's own 30 steps and time limit, not the built-in defaults
  const test::CliRun resumed = test::run_cli(data + " --resume");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("step 30/30"), std::string::npos) << resumed.output;
  EXPECT_EQ(resumed.output.find("step 35/"), std::string::npos) << resumed.output;
  const Checkpoint ckpt = load_checkpoint(run);
  EXPECT_EQ(ckpt.config.train.steps, 30);
  EXPECT_EQ(ckpt.config.train.time_limit_s, 900.0);
  // a flag that contradicts the run is an error naming both values; --steps extends it
  const test::CliRun contradicting = test::run_cli(data + " --resume --lr 0.5");
  EXPECT_NE(contradicting.code, 0);
  EXPECT_NE(contradicting.output.find("train.lr is 0.001 in the run"), std::string::npos)
      << contradicting.output;
  EXPECT_NE(contradicting.output.find("0.5 was given"), std::string::npos) << contradicting.output;
  const test::CliRun extended =
      test::run_cli(data + " --resume --steps 40 --config " + dir + "/tiny.json");
  ASSERT_EQ(extended.code, 0) << extended.output;
  EXPECT_NE(extended.output.find("step 40/40"), std::string::npos) << extended.output;
}

TEST(Trainer, TimeLimitedRunEndsItsScheduleAndKeepsSnapshots) {
  // a step budget it cannot reach: the time limit ends the cosine at its floor. no warm-up (it
  // counts steps, and a slow build, e.g. the sanitizer one, makes only a few steps in the limit)
  std::string out = test::temp_dir("time_limit");
  TrainOptions opt = tiny_options(out, 1000000);
  opt.config.train.log_every = 1;
  opt.config.train.warmup_steps = 0;
  opt.config.train.save_every = 3;  // snapshots do not wait for a save step
  opt.config.train.keep_every = 2;
  opt.config.train.time_limit_s = 4.0;
  const TrainResult r = train(opt);
  EXPECT_LT(r.steps_done, 1000000);
  ASSERT_GE(r.steps_done, 2) << "the machine made fewer than 2 steps in 4 s";
  std::ifstream metrics(out + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  const auto j = nlohmann::json::parse(last);
  const double floor = opt.config.train.lr * opt.config.train.min_lr_ratio;
  EXPECT_LT(j["lr"].get<double>(), 1.05 * floor) << last;
  EXPECT_GE(j["elapsed_s"].get<double>(), 4.0);
  // snapshots every 2 steps load as checkpoints and say when they were taken
  ASSERT_TRUE(fs::exists(out + "/snapshots/step_000002/model.safetensors"));
  Checkpoint snap = load_checkpoint(out + "/snapshots/step_000002");
  EXPECT_EQ(snap.config.train.keep_every, 2);
  const auto meta = nlohmann::json::parse(read_file(out + "/snapshots/step_000002/snapshot.json"));
  EXPECT_EQ(meta["step"].get<int>(), 2);
  EXPECT_FALSE(fs::exists(out + "/snapshots/step_000003"));
}

TEST(Checkpoint, MissingOrBrokenFilesAreErrors) {
  std::string out = test::temp_dir("ckpt_bad");
  train(tiny_options(out, 2));
  std::filesystem::remove(out + "/tokenizer.json");
  test::expect_error([&] { load_checkpoint(out); },
                     {"[checkpoint]", "missing file 'tokenizer.json'"});
  std::string out2 = test::temp_dir("ckpt_bad2");
  train(tiny_options(out2, 2));
  // truncate the weights
  std::string bytes = read_file(out2 + "/model.safetensors");
  write_file_atomic(out2 + "/model.safetensors", bytes.substr(0, bytes.size() / 2));
  test::expect_error([&] { load_checkpoint(out2); },
                     {"model.safetensors", "outside the data buffer"});
}

TEST(Checkpoint, PiecesThatDisagreeAreErrorsNamingBothSides) {
  // one trained checkpoint with a rater; each case edits one piece of a fresh copy
  const std::string base = test::temp_dir("ckpt_pieces");
  train(tiny_options(base, 2));
  const Config cfg = load_config(base + "/config.json");
  RaterConfig rc;
  rc.d_model = 32;
  rc.n_head = 2;
  rc.d_ff = 64;
  ConfidenceRater rater(rc, cfg.model);
  save_rater(base, rc, *rater);
  int n_case = 0;
  auto copy = [&] {
    const std::string dir = test::temp_dir("ckpt_piece_" + std::to_string(n_case++));
    std::filesystem::remove_all(dir);
    std::filesystem::copy(base, dir, std::filesystem::copy_options::recursive);
    return dir;
  };
  auto edit_json = [](const std::string& path, const std::function<void(nlohmann::json&)>& f) {
    nlohmann::json j = nlohmann::json::parse(read_file(path));
    f(j);
    write_file_atomic(path, j.dump(2));
  };

  // config.json vs the weights: the tensor, both shapes and the file
  std::string dir = copy();
  edit_json(dir + "/config.json", [](nlohmann::json& j) { j["model"]["d_ff"] = 160; });
  test::expect_error([&] { load_checkpoint(dir); },
                     {"model.safetensors", "backbone.layers.0.mlp.down_proj.weight",
                      "has shape [64,128], expected [64,160]"});

  // tokenizer vs vocab_size
  dir = copy();
  edit_json(dir + "/tokenizer.json", [](nlohmann::json& j) { j["vocab"].push_back("zebra"); });
  const std::string words = std::to_string(cfg.model.vocab_size + 1) + " words";
  test::expect_error([&] { load_checkpoint(dir); },
                     {"[checkpoint]", "tokenizer has " + words + ", config.json says vocab_size " +
                                          std::to_string(cfg.model.vocab_size)});

  // norm stats with one state dim too few
  dir = copy();
  edit_json(dir + "/norm_stats.json", [](nlohmann::json& j) {
    for (const char* k : {"mean", "std", "q01", "q99"}) j["state"][k].erase(0);
  });
  test::expect_error([&] { load_checkpoint(dir); },
                     {"[checkpoint]", "norm_stats.json has state/action dims 10/7, expected 11/7"});

  // rater.json vs rater.safetensors
  dir = copy();
  edit_json(dir + "/rater.json", [](nlohmann::json& j) { j["d_model"] = 48; });
  test::expect_error(
      [&] { load_rater(dir, cfg.model); },
      {"rater.safetensors", "tensor 'action_pos' has shape [4,32], expected [4,48]"});

  // the unchanged copy loads, rater included
  dir = copy();
  EXPECT_NO_THROW(load_checkpoint(dir));
  EXPECT_NO_THROW(load_rater(dir, cfg.model));
}

TEST(Trainer, NonFiniteLossOrGradientStopsAtItsStepAndKeepsTheLastGoodCheckpoint) {
  // lr 1e30 throws the weights to ~1e30 in one step; the next forward overflows to inf / NaN
  std::string out = test::temp_dir("nan_stop");
  TrainOptions opt = tiny_options(out, 20);
  opt.config.train.lr = 1e30;
  opt.config.train.warmup_steps = 0;
  test::expect_error([&] { train(opt); },
                     {"[train]", "at step 2", "stopped before updating the weights", out,
                      "last good one (step 0)"});
  // the checkpoint written before the bad step loads, with finite weights
  const Checkpoint ck = load_checkpoint(out);
  for (const auto& p : ck.model->parameters()) {
    EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
  }
  fs::remove_all(out);
}

}  // namespace
}  // namespace avla
