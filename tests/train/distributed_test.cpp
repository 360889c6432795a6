// data-parallel training on c10d: the gradient all-reduce, 2 ranks against 1 process, and ranks
// that die (the survivors and the launcher must say which, and stop).
#include "train/distributed.h"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>
#include <thread>

#include "io/atomic_file.h"
#include "test_util.h"
#include "tiny_policy.h"
#include "train/grad_sync.h"
#include "train/launch.h"

namespace avla {
namespace {

namespace fs = std::filesystem;

// two ranks as two threads of this process, each with its own store connection and gloo group
void run_two_ranks(const std::function<void(DistGroup&)>& fn) {
  const int port = free_loopback_port();
  std::vector<std::exception_ptr> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      try {
        DistConfig c;
        c.rank = r;
        c.world_size = 2;
        c.master_port = port;
        c.timeout_s = 60;
        DistGroup group(c);
        fn(group);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

torch::nn::Sequential small_net() {
  return torch::nn::Sequential(torch::nn::Linear(5, 16), torch::nn::Tanh(),
                               torch::nn::Linear(16, 16), torch::nn::Tanh(),
                               torch::nn::Linear(16, 3));
}

std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.grad().clone());
  return out;
}

TEST(GradSync, AveragesGradientsOverRanksDuringBackward) {
  // the same net on both ranks (copies made here: manual_seed is process-wide), own inputs each
  torch::manual_seed(0);
  torch::nn::Sequential reference = small_net();
  std::vector<torch::nn::Sequential> nets;
  std::vector<torch::Tensor> inputs, unused;
  for (int r = 0; r < 2; ++r) {
    nets.push_back(std::dynamic_pointer_cast<torch::nn::SequentialImpl>(reference->clone()));
    inputs.push_back(torch::randn({4, 5}, at::detail::createCPUGenerator(10 + r)));
    // a parameter no loss reaches: it must come back as zeros, not hang the step
    unused.push_back(torch::ones({3}).requires_grad_());
  }
  // what each rank computes alone
  std::vector<std::vector<torch::Tensor>> alone(2);
  for (int r = 0; r < 2; ++r) {
    auto net = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(reference->clone());
    net->forward(inputs[r]).pow(2).sum().backward();
    alone[r] = grads_of(net->parameters());
  }

  std::vector<std::vector<torch::Tensor>> synced(2);
  std::vector<int64_t> n_buckets(2);
  run_two_ranks([&](DistGroup& group) {
    const int r = group.rank();
    std::vector<torch::Tensor> params = nets[r]->parameters();
    params.push_back(unused[r]);
    // small buckets: several all-reduces start while backward still runs
    GradSync sync(group, params, 256, 128);
    n_buckets[r] = sync.n_buckets();
    for (int step = 0; step < 2; ++step) {  // twice: the buckets are reused
      for (auto& p : params)
        if (p.grad().defined()) p.mutable_grad().zero_();
      sync.begin();
      nets[r]->forward(inputs[r]).pow(2).sum().backward();
      sync.finish();
    }
    synced[r] = grads_of(params);
  });

  EXPECT_GE(n_buckets[0], 3);
  const size_t n = alone[0].size();
  for (size_t i = 0; i < n; ++i) {
    const torch::Tensor mean = (alone[0][i] + alone[1][i]) / 2;
    for (int r = 0; r < 2; ++r) EXPECT_LT(test::max_abs_diff(synced[r][i], mean), 1e-6) << i;
    // the control: each rank's own gradient is far from the mean
    EXPECT_GT(test::max_abs_diff(alone[0][i], mean), 1e-3) << i;
  }
  for (int r = 0; r < 2; ++r) EXPECT_EQ(synced[r][n].abs().sum().item<float>(), 0.f);
}

TEST(DistGroup, SumsBroadcastsAndShardsLikeOneBatch) {
  std::vector<double> sums(2);
  std::vector<float> received(2);
  run_two_ranks([&](DistGroup& group) {
    const int r = group.rank();
    sums[r] = group.all_reduce_sum(torch::tensor({1.5 + r, 10.0 * r}), "test")[1].item<double>();
    torch::Tensor t = torch::full({2}, static_cast<float>(r + 7));
    group.broadcast({t}, "test");
    received[r] = t[1].item<float>();
  });
  EXPECT_EQ(sums[0], 10.0);
  EXPECT_EQ(sums[1], 10.0);
  EXPECT_EQ(received[1], 7.f);  // rank 0's value
  // a rank ignores SIGPIPE: a write to a dead peer is an error it names, not a silent end
  struct sigaction pipe_action {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &pipe_action), 0);
  EXPECT_EQ(pipe_action.sa_handler, SIG_IGN);
  // rows of a batch of 5 over 2 ranks: [0, 2) and [2, 5)
  EXPECT_EQ(BatchShard::of_rank(5, 0, 2).end, 2);
  EXPECT_EQ(BatchShard::of_rank(5, 1, 2).begin, 2);
  EXPECT_EQ(BatchShard::of_rank(5, 1, 2).end, 5);
}

TEST(DistConfig, ReadsTorchrunVariablesAndNamesBadOnes) {
  ::setenv("RANK", "1", 1);
  ::setenv("WORLD_SIZE", "3", 1);
  ::setenv("MASTER_PORT", "29612", 1);
  DistConfig c = DistConfig::from_environment();
  EXPECT_EQ(c.rank, 1);
  EXPECT_EQ(c.world_size, 3);
  EXPECT_EQ(c.master_port, 29612);
  EXPECT_EQ(c.local_rank, 1);
  ::setenv("WORLD_SIZE", "two", 1);
  test::expect_error([] { DistConfig::from_environment(); }, {"WORLD_SIZE", "two"});
  ::setenv("WORLD_SIZE", "1", 1);
  test::expect_error([] { DistConfig::from_environment(); }, {"RANK=1", "WORLD_SIZE=1"});
  ::unsetenv("WORLD_SIZE");
  test::expect_error([] { DistConfig::from_environment(); }, {"RANK and WORLD_SIZE"});
  ::unsetenv("RANK");
  ::unsetenv("MASTER_PORT");
  EXPECT_EQ(DistConfig::from_environment().world_size, 1);
  EXPECT_EQ(without_nproc({"a", "train", "--nproc", "2", "--steps", "3", "--nproc=4"}),
            (std::vector<std::string>{"a", "train", "--steps", "3"}));
}

// largest difference between the same-named tensors of two safetensors files
double max_tensor_difference(const std::string& a, const std::string& b) {
  const TensorMap ta = load_tensor_map(a), tb = load_tensor_map(b);
  double worst = 0;
  for (const auto& [name, t] : ta) worst = std::max(worst, test::max_abs_diff(t, tb.at(name)));
  return worst;
}

std::vector<double> loss_curve(const std::string& run) {
  std::vector<double> out;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  return out;
}

// the tiny preset with a log line (and a metrics line) every step
std::string every_step_config(const std::string& dir) {
  Config c = test::tiny_config();
  c.train.log_every = 1;
  // every random draw of a step, the context noise's too, comes from the global batch's stream
  c.train.context_noise = 0.1;
  const std::string path = dir + "/config.json";
  write_file_atomic(path, to_json(c).dump(2));
  return path;
}

TEST(DataParallel, TwoRanksFollowOneProcessWithTheSameGlobalBatch) {
  const std::string dir = test::temp_dir("dp_runs");
  const std::string config = every_step_config(dir);
  auto train_run = [&](const std::string& name, const std::string& flags) {
    test::CliRun r = test::run_cli("train --data " + test::tiny_data_dir() + " --config " + config +
                                   " --steps 10 --out " + dir + name + " " + flags);
    EXPECT_EQ(r.code, 0) << r.output;
    return r.output;
  };
  train_run("/one", "--batch 8");
  const std::string two = train_run("/two", "--batch 8 --nproc 2");
  EXPECT_NE(two.find("[dist] 2 ranks (gloo), 4 rows of each batch of 8"), std::string::npos) << two;
  // rank 0 alone logged and wrote the checkpoint
  EXPECT_EQ(fs::exists(dir + "/two/model.safetensors"), true);

  const std::vector<double> a = loss_curve(dir + "/one"), b = loss_curve(dir + "/two");
  ASSERT_EQ(a.size(), 10u);
  ASSERT_EQ(b.size(), 10u);
  double worst_loss = 0;
  for (size_t i = 0; i < a.size(); ++i) worst_loss = std::max(worst_loss, std::abs(a[i] - b[i]));
  // half-batch sums added over ranks differ from one batch's sums in float rounding only
  const double weights = test::run_difference(dir + "/one", dir + "/two");
  std::printf("1 process vs 2 ranks: loss curves <= %.3g apart, weights and adam moments %.3g\n",
              worst_loss, weights);
  EXPECT_LT(worst_loss, 1e-4);
  EXPECT_LT(weights, 1e-4);
  EXPECT_GT(a.front() - a.back(), 0.1);  // it trained

  // the control: a rank that kept its own gradients (no all-reduce) is what a 1-process run on
  // its 4 rows would be; that run is far from both
  train_run("/half", "--batch 4");
  const double half =
      max_tensor_difference(dir + "/one/model.safetensors", dir + "/half/model.safetensors");
  std::printf("1 process on the 4 rows of rank 0 (no all-reduce): %.3g\n", half);
  EXPECT_GT(half, 100 * weights + 1e-4);

  // a 1-rank run resumed on 2 ranks continues the same run
  train_run("/mixed", "--batch 8 --stop-after 4");
  const std::string resume = train_run("/mixed", "--batch 8 --resume --nproc 2");
  EXPECT_NE(resume.find("saved by 1 rank(s) and resumes on 2"), std::string::npos) << resume;
  EXPECT_LT(test::run_difference(dir + "/one", dir + "/mixed"), 1e-4);

  // the rater trainer takes the same path: 2 ranks give the rater 1 process gives, and a rank
  // left alone with its 4 rows (the control) does not
  auto rater_weights = [&](const std::string& name, const std::string& flags) {
    fs::copy(dir + "/one", dir + name);
    test::CliRun r = test::run_cli("train-rater --data " + test::tiny_data_dir() +
                                   " --steps 6 --ckpt " + dir + name + " " + flags);
    EXPECT_EQ(r.code, 0) << r.output;
    return dir + name + "/rater.safetensors";
  };
  const std::string r1 = rater_weights("/rater1", "--batch 8");
  const double rater_diff =
      max_tensor_difference(r1, rater_weights("/rater2", "--batch 8 --nproc 2"));
  const double half_diff = max_tensor_difference(r1, rater_weights("/rater_half", "--batch 4"));
  std::printf("rater: 1 process vs 2 ranks %.3g (vs a half batch %.3g)\n", rater_diff, half_diff);
  EXPECT_LT(rater_diff, 1e-4);
  EXPECT_GT(half_diff, 100 * rater_diff + 1e-4);
}

// LibTorch 1.13's store client lets "Connection reset by peer" escape a listener thread when rank 0
// dies; this rank must still end with the named error and status 1, not abort (status 134). the
// same path, driven here by a thread that throws while two live ranks beat: nobody stopped
TEST(DataParallelDeathTest, AnExceptionEscapingAThreadEndsTheRankWithTheNamedError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto two_ranks_then_escape = [] {
    const int port = free_loopback_port();
    std::vector<std::unique_ptr<DistGroup>> groups(2);
    std::vector<std::thread> starts;
    for (int r = 0; r < 2; ++r) {
      starts.emplace_back([&, r] {
        DistConfig c;
        c.rank = r;
        c.world_size = 2;
        c.master_port = port;
        c.timeout_s = 30;
        groups[r] = std::make_unique<DistGroup>(c);
      });
    }
    for (auto& t : starts) t.join();
    std::thread([] { throw std::system_error(ECONNRESET, std::generic_category()); }).join();
  };
  EXPECT_EXIT(two_ranks_then_escape(), testing::ExitedWithCode(1),
              "error: \\[dist\\] rank [01] of 2: the store connection failed: no rank has stopped "
              "beating yet .*stopping this rank too \\(Connection reset by peer\\)");
}

// runs a bash script; returns its output. bash dies with this test process (test::spawn_child),
// and the script starts its ranks under `setpriv --pdeathsig KILL`, so they die with bash: a
// crashed or timed-out test leaves no rank running
std::string run_script(const std::string& script) {
  const std::string dir = test::temp_dir("dp_script");
  write_file_atomic(dir + "/run.sh", script);
  const pid_t pid = test::spawn_child({"/bin/bash", dir + "/run.sh"}, dir + "/out.log");
  test::ChildGuard guard(pid);
  EXPECT_EQ(::waitpid(pid, nullptr, 0), pid);
  guard.release();
  std::ifstream in(dir + "/out.log");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(DataParallel, ARankKilledMidRunStopsTheOthersWithItsName) {
  const std::string dir = test::temp_dir("dp_kill");
  const std::string train = fmt::format(
      "{} --threads 1 train --data {} --config {} --steps 1000000 --batch 8 --dist-timeout 300",
      ASYNCVLA_BINARY, test::tiny_data_dir(), every_step_config(dir));
  // by hand with torchrun's variables: kill rank R once rank 0 has logged step 3, then time how
  // long the survivor takes to stop. start-up may take minutes (the sanitizer build on a loaded
  // machine): the wait for step 3 and the collectives' timeout are 300 s, while a dead peer is
  // seen at once through its closed connection, so the survivor's bound stays 30 s
  const std::string by_hand = R"(
kill_rank() {  # $1: the rank to kill, $2: run dir
  port=$(( 20000 + RANDOM % 20000 ))
  for r in 0 1; do
    RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port setpriv --pdeathsig KILL )" +
                              train + R"( --out $2 > $2.rank$r.log 2>&1 &
    pids[$r]=$!
  done
  for i in $(seq 3000); do grep -q 'step 3/' $2.rank0.log && break; sleep 0.1; done
  grep -q 'step 3/' $2.rank0.log || echo "rank 0 did not reach step 3 within 300 s"
  kill -9 ${pids[$1]}
  start=$(date +%s%N)
  survivor=$((1 - $1))
  wait ${pids[$survivor]}; rc=$?
  echo "rank $survivor rc $rc after $(( ($(date +%s%N) - start) / 1000000 )) ms"
  tail -n 2 $2.rank$survivor.log
}
)";
  std::string out = run_script(by_hand + "kill_rank 1 " + dir + "/a\nkill_rank 0 " + dir + "/b\n");
  std::printf("%s", out.c_str());
  EXPECT_EQ(out.find("did not reach step 3"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 0 rc 1 after"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 0 of 2: "), std::string::npos) << out;
  EXPECT_NE(out.find("rank 1 stopped"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 1 rc 1 after"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 0 stopped (the store it hosts"), std::string::npos) << out;
  // well within the timeout: the closed connection is seen at once, naming takes ~3 s
  for (const std::string key : {"rank 0 rc 1 after ", "rank 1 rc 1 after "}) {
    const size_t at = out.find(key);
    ASSERT_NE(at, std::string::npos) << out;
    EXPECT_LT(std::stod(out.substr(at + key.size())), 30000) << out;
  }

  // the launcher: a rank killed under --nproc stops the other and says which
  const std::string launched = R"(
setpriv --pdeathsig KILL )" + train +
                               " --out " + dir + R"(/c --nproc 2 > )" + dir + R"(/c.log 2>&1 &
launcher=$!
for i in $(seq 3000); do grep -q 'step 3/' )" +
                               dir + R"(/c.log && break; sleep 0.1; done
kill -9 $(pgrep -P $launcher | tail -n 1)
wait $launcher; echo "launcher rc $?"
cat )" + dir + "/c.log\n";
  out = run_script(launched);
  std::printf("%s", out.c_str());
  EXPECT_NE(out.find("launcher rc 1"), std::string::npos) << out;
  EXPECT_NE(out.find("was killed by signal 9"), std::string::npos) << out;
  EXPECT_NE(out.find("stopping the other 1 rank(s)"), std::string::npos) << out;
}

}  // namespace
}  // namespace avla
