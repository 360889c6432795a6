// training that survives kill -9: `asyncvla train` is killed at random moments (during start-up,
// steps and checkpoint writes) and resumed each time; every checkpoint left behind must load, no
// more than one save interval may be redone, and the finished run must match one that was never
// interrupted. ASYNCVLA_KILLS=50 runs the long version for docs/RELIABILITY.md.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "checkpoint/checkpoint.h"
#include "data/libero_file.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "tiny_policy.h"
#include "train/train_state.h"

namespace avla {
namespace {

namespace fs = std::filesystem;

// the highest "step N/" a log shows, -1 when none
int last_logged_step(const std::string& log) {
  std::ifstream in(log);
  std::string line;
  int last = -1;
  const std::regex step(R"(^\S+ step (\d+)/)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, step)) last = std::stoi(m[1]);
  }
  return last;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

TEST(Reliability, TrainingSurvivesKillNineAndFinishesLikeAnUninterruptedRun) {
  const int kills_wanted = env_int("ASYNCVLA_KILLS", 8);
  const std::string dir = test::temp_dir("kill9");
  Config config = test::tiny_config();
  config.train.steps = 60 + 100 * kills_wanted;  // more than the kills leave time for
  config.train.log_every = 1;
  config.train.save_every = 4;
  write_file_atomic(dir + "/config.json", to_json(config).dump(2));
  const std::vector<std::string> base = {
      ASYNCVLA_BINARY, "--threads",          "1",    "train", "--data", test::tiny_data_dir(),
      "--config",      dir + "/config.json", "--out"};
  auto command = [&](const std::string& out, bool resume) {
    std::vector<std::string> args = base;
    args.push_back(out);
    if (resume) args.push_back("--resume");
    return args;
  };

  // the uninterrupted reference
  const std::string reference = dir + "/reference";
  int status = 0;
  waitpid(test::spawn_child(command(reference, false), dir + "/reference.log"), &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << dir << "/reference.log";

  // the killed run: every attempt is `--resume` (the first has nothing to resume and says so)
  const std::string run = dir + "/run";
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> delay_ms(300, 1500);
  int kills = 0, attempts = 0, worst_redone = 0, from_scratch = 0, torn_writes = 0;
  int resumed_mid_run = 0;   // attempts that resumed from a step above 0
  std::string planted_torn;  // the torn write planted once (below), which the resume must remove
  int last_step = -1;        // the last step the previous attempt logged
  bool finished = false;
  while (!finished && attempts < kills_wanted + 20) {
    const std::string log = fmt::format("{}/attempt_{:03d}.log", dir, attempts++);
    const pid_t pid = test::spawn_child(command(run, true), log);
    const bool kill_it = kills < kills_wanted;
    bool reaped = false;
    if (kill_it) {
      if (attempts == 1) {
        // the first kill comes before any save could happen (start-up alone takes longer)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      } else if (attempts % 2 == 1) {
        // at a random moment: start-up, steps or a save, as the machine's speed has it
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
      } else {
        // once this attempt is training (a step logged), a random moment later: in steps and
        // saves however slow start-up is on this machine
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        while (last_logged_step(log) < 0 && std::chrono::steady_clock::now() < deadline) {
          if (waitpid(pid, &status, WNOHANG) == pid) {
            reaped = true;
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng) / 3));
      }
      if (!reaped) ::kill(pid, SIGKILL);
    }
    if (!reaped) {
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
    }
    const std::string text = read_file(log);
    if (WIFSIGNALED(status)) {
      ++kills;
    } else {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
      finished = !kill_it || text.find("[train] done:") != std::string::npos;
    }
    // what this attempt resumed from, against what the one before had reached
    std::smatch m;
    if (std::regex_search(text, m, std::regex(R"(resuming \S+ at step (\d+))"))) {
      worst_redone = std::max(worst_redone, last_step - std::stoi(m[1]));
      if (std::stoi(m[1]) > 0) ++resumed_mid_run;
    } else if (text.find("has no train state yet") != std::string::npos) {
      from_scratch += 1;
      worst_redone = std::max(worst_redone, last_step);
    }
    if (std::regex_search(text, m, std::regex(R"(removed (\d+) unfinished temporary)"))) {
      torn_writes += std::stoi(m[1]);
    }
    last_step = std::max(last_step, last_logged_step(log));
    // a kill mid-write leaves "<file>.tmp.<pid>" behind; a random kill lands there only sometimes,
    // so once a train state exists the killed attempt's torn write is planted by hand too
    if (planted_torn.empty() && WIFSIGNALED(status) &&
        fs::exists(run + "/train_state.safetensors")) {
      planted_torn = run + "/train_state.safetensors.tmp." + std::to_string(pid);
      const std::string whole = read_file(run + "/train_state.safetensors");
      write_file_atomic(planted_torn, whole.substr(0, whole.size() / 3));
    }
    // whatever the kill left must load
    if (fs::exists(run + "/train_state.safetensors")) {
      EXPECT_NO_THROW(load_train_state(run)) << "after attempt " << attempts;
    }
    if (fs::exists(run + "/model.safetensors")) {
      EXPECT_NO_THROW(load_checkpoint(run)) << "after attempt " << attempts;
    }
  }
  ASSERT_TRUE(finished) << "the run did not finish in " << attempts << " attempts";
  const double difference = test::run_difference(reference, run);
  std::printf(
      "%d kills survived in %d attempts (%d started over: killed before a first save; %d killed "
      "mid-write, their temp files removed); at most %d steps redone (save interval %d); "
      "finished run vs uninterrupted: %.3g\n",
      kills, attempts, from_scratch, torn_writes, worst_redone, config.train.save_every,
      difference);
  EXPECT_GE(kills, kills_wanted);
  EXPECT_LE(worst_redone, config.train.save_every);
  EXPECT_LE(difference, 1e-5);    // the resume tolerance of docs/DECISIONS.md
  EXPECT_GE(from_scratch, 1);     // the first attempt, killed at 50 ms
  EXPECT_GE(resumed_mid_run, 1);  // not every kill landed in start-up
  ASSERT_FALSE(planted_torn.empty()) << "no kill left a train state to tear";
  EXPECT_FALSE(fs::exists(planted_torn));
  EXPECT_GE(torn_writes, 1);  // the resume after it said it removed it
  // no temp file outlives the run
  for (const auto& entry : fs::directory_iterator(run)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

// kill -9 during `sim collect`: each task's file is written under a temporary name and renamed
// when whole, so after a kill at any moment every file under its final name reads back with all
// its demonstrations, and a rerun removes the torn temp files and writes what an uninterrupted
// collect writes
TEST(Reliability, CollectKilledAtAnyMomentLeavesOnlyWholeFiles) {
  const std::string dir = test::temp_dir("kill_collect");
  auto command = [&](const std::string& out) {
    return std::vector<std::string>{
        ASYNCVLA_BINARY, "--threads",  "1",       "sim",          "collect",
        "--suite",       "goal",       "--tasks", "open_drawer",  "cube_in_bowl",
        "close_drawer",  "--episodes", "2",       "--resolution", "32",
        "--out",         out};
  };
  const std::string reference = dir + "/reference";
  int status = 0;
  const auto start = std::chrono::steady_clock::now();
  waitpid(test::spawn_child(command(reference), dir + "/reference.log"), &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << dir << "/reference.log";
  const double whole_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  auto hdf5_files = [](const std::string& d) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(d)) {
      const std::string name = e.path().filename().string();
      if (name.size() > 5 && name.substr(name.size() - 5) == ".hdf5") names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  };
  ASSERT_EQ(hdf5_files(reference).size(), 3u);

  // kills spread over the reference's duration: before the first file, between files, and
  // (some of them) while a file is being written
  const std::string run = dir + "/run";
  int files_seen = 0, temps_seen = 0;
  for (double at : {0.15, 0.35, 0.5, 0.65, 0.8, 0.95}) {
    const pid_t pid = test::spawn_child(command(run), dir + "/killed.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(at * whole_ms)));
    // the last kill waits (up to 3 reference durations) for a first whole file: on a loaded
    // machine the killed run can lag the reference, and the check below needs one file seen
    if (at > 0.9) {
      for (int wait = 0; wait < 300 && (!fs::exists(run) || hdf5_files(run).empty()); ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(whole_ms / 100)));
      }
    }
    ::kill(pid, SIGKILL);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!fs::exists(run)) continue;
    for (const auto& name : hdf5_files(run)) {
      LiberoFile f;
      ASSERT_NO_THROW(f = read_libero_file(run + "/" + name)) << name << " after a kill at " << at;
      EXPECT_EQ(f.demos.size(), 2u) << name;
      ++files_seen;
    }
    for (const auto& e : fs::directory_iterator(run))
      temps_seen += e.path().filename().string().find(".tmp.") != std::string::npos;
  }
  // the rerun finishes, leaves no temp file, and wrote the reference's demonstrations
  waitpid(test::spawn_child(command(run), dir + "/rerun.log"), &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << dir << "/rerun.log";
  EXPECT_EQ(hdf5_files(run), hdf5_files(reference));
  for (const auto& e : fs::directory_iterator(run))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  for (const auto& name : hdf5_files(reference)) {
    const LiberoFile a = read_libero_file(reference + "/" + name);
    const LiberoFile b = read_libero_file(run + "/" + name);
    ASSERT_EQ(a.demos.size(), b.demos.size()) << name;
    for (size_t i = 0; i < a.demos.size(); ++i) {
      EXPECT_TRUE(torch::equal(a.demos[i].actions, b.demos[i].actions)) << name << " demo " << i;
      EXPECT_TRUE(torch::equal(a.demos[i].agentview_rgb, b.demos[i].agentview_rgb)) << name;
    }
  }
  std::printf(
      "collect of %.0f ms killed 6 times: %d whole files seen after kills, %d torn temp "
      "files left (removed by the rerun)\n",
      whole_ms, files_seen, temps_seen);
  // some kill came after a first file was whole (else the check above saw nothing)
  EXPECT_GE(files_seen, 1);
}

// disk full: a checkpoint write that fails (here a file-size limit, EFBIG, as ENOSPC would) stops
// the run with an error naming the file and saying the previous one is unchanged; every file of
// the previous checkpoint is byte-identical afterwards, no temp file is left, and the run resumes
TEST(Reliability, AFailedCheckpointWriteKeepsThePreviousCheckpointAndSaysSo) {
  const std::string out = test::temp_dir("disk_full");
  const std::string common = "train --data " + test::tiny_data_dir() + " --config " +
                             test::source_dir() + "/configs/tiny.json --out " + out;
  const test::CliRun first = test::run_cli(common + " --steps 2");
  ASSERT_EQ(first.code, 0) << first.output;
  std::map<std::string, std::string> before;
  for (const auto& e : fs::directory_iterator(out)) {
    if (e.is_regular_file()) before[e.path().filename()] = read_file(e.path().string());
  }
  const size_t state_bytes = before.at("train_state.safetensors").size();
  ASSERT_GT(state_bytes, 200u * 1024);
  // a limit below the train state's size (bash counts 1024-byte blocks); SIGXFSZ ignored so the
  // write fails with EFBIG instead of killing the process
  const std::string limited = "/bin/bash -c \"trap '' XFSZ; ulimit -f " +
                              std::to_string(state_bytes / 1024 / 2) + "; exec " + ASYNCVLA_BINARY +
                              " --threads 1 " + common + " --steps 4 --resume\" 2>&1";
  std::string output;
  FILE* pipe = ::popen(limited.c_str(), "r");
  char buf[4096];
  while (pipe && std::fgets(buf, sizeof buf, pipe)) output += buf;
  const int status = pipe ? ::pclose(pipe) : -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << output;
  EXPECT_NE(output.find("train_state.safetensors"), std::string::npos) << output;
  EXPECT_NE(output.find("File too large"), std::string::npos) << output;
  EXPECT_NE(output.find("is unchanged"), std::string::npos) << output;
  for (const auto& [name, bytes] : before) {
    if (name == "metrics.jsonl") continue;  // appended by the resumed run's log lines
    EXPECT_EQ(read_file(out + "/" + name), bytes) << name << " changed";
  }
  for (const auto& e : fs::directory_iterator(out)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  }
  // with room again, the run resumes from the intact checkpoint and finishes
  const test::CliRun resumed = test::run_cli(common + " --steps 4 --resume");
  EXPECT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming"), std::string::npos) << resumed.output;
  EXPECT_EQ(load_train_state(out).step, 4);
  fs::remove_all(out);
}

TEST(Reliability, ATrainStateWithAGarbledStepIsAnErrorNamingFileAndKey) {
  const std::string dir = test::temp_dir("bad_step");
  const uint8_t rng[4] = {1, 2, 3, 4};
  for (const auto& [meta, needle] :
       std::vector<std::pair<std::map<std::string, std::string>, std::string>>{
           {{{"step", "12abc"}}, "metadata step '12abc' is not an integer"},
           {{{"step", "-4"}}, "metadata step -4 is negative"},
           {{}, "metadata has no 'step'"},
           {{{"step", "7"}, {"elapsed_s", "nan"}}, "metadata elapsed_s 'nan' is not a finite"},
           {{{"step", "7"}, {"world_size", "0"}}, "metadata world_size 0 is outside"}}) {
    save_safetensors(dir + "/train_state.safetensors", {{"rng_state", DType::U8, {4}, rng, 4}},
                     meta);
    test::expect_error([&] { load_train_state(dir); }, {"train_state.safetensors", needle});
  }
  save_safetensors(dir + "/train_state.safetensors", {{"rng_state", DType::U8, {4}, rng, 4}},
                   {{"step", "7"}, {"elapsed_s", "12.5"}, {"world_size", "2"}});
  const TrainState ok = load_train_state(dir);
  EXPECT_EQ(ok.step, 7);
  EXPECT_DOUBLE_EQ(ok.elapsed_s, 12.5);
  EXPECT_EQ(ok.world_size, 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace avla
