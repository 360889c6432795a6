// the binary end to end: exit codes and one clear error line for bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "test_util.h"

namespace avla {
namespace {

struct CliRun {
  int code;
  std::string output;  // stdout + stderr
};

CliRun run(const std::string& args) {
  std::string cmd = std::string(ASYNCVLA_BINARY) + " --threads 1 " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  CliRun r{-1, ""};
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe) != nullptr) r.output += buf.data();
  int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool contains(const std::string& s, const std::string& needle) {
  return s.find(needle) != std::string::npos;
}

TEST(Cli, UnknownFlagIsAnErrorWithUsage) {
  CliRun r = run("train --data x --out y --bogus-flag");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "--bogus-flag")) << r.output;
  EXPECT_TRUE(contains(r.output, "Usage:")) << r.output;
}

TEST(Cli, HelpShowsDefaults) {
  CliRun r = run("infer --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(contains(r.output, "--mode")) << r.output;
  EXPECT_TRUE(contains(r.output, "=sfm")) << r.output;
}

TEST(Cli, MissingDataNamesThePath) {
  CliRun r = run("train --data /nonexistent/dir --out /tmp/x_asyncvla_never");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.output, "error: [data] '/nonexistent/dir' does not exist")) << r.output;
}

TEST(Cli, BadConfigFieldIsNamed) {
  std::string dir = test::temp_dir("cli_cfg");
  std::ofstream(dir + "/c.json") << R"({"model": {"d_modle": 64}})";
  CliRun r = run("train --data " + dir + " --config " + dir + "/c.json --out " + dir + "/run");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.output, "unknown field 'model.d_modle'")) << r.output;
}

TEST(Cli, SynthTrainInferEndToEnd) {
  std::string dir = test::temp_dir("cli_e2e");
  ASSERT_EQ(run("synth --out " + dir + "/data --tasks 1 --episodes 2 --resolution 32").code, 0);
  CliRun t = run("train --data " + dir + "/data --config " + test::source_dir() +
                 "/configs/tiny.json --out " + dir + "/run --steps 4");
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_TRUE(contains(t.output, "step 4/4 | loss")) << t.output;
  CliRun i = run("infer --ckpt " + dir + "/run --data " + dir +
                 "/data/synthetic_task0.hdf5 --demo 1 --step 2 --mode random");
  ASSERT_EQ(i.code, 0) << i.output;
  EXPECT_TRUE(contains(i.output, "mse vs ground truth")) << i.output;
  CliRun bad =
      run("infer --ckpt " + dir + "/run --data " + dir + "/data/synthetic_task0.hdf5 --demo 9");
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(contains(bad.output, "--demo 9 out of range")) << bad.output;
  // garbled weights: one clear error, no crash
  std::ofstream(dir + "/run/model.safetensors", std::ios::trunc) << "garbage!garbage!";
  CliRun g = run("infer --ckpt " + dir + "/run --data " + dir + "/data/synthetic_task0.hdf5");
  EXPECT_EQ(g.code, 1);
  EXPECT_TRUE(contains(g.output, "error: [safetensors]")) << g.output;
  EXPECT_TRUE(contains(g.output, "model.safetensors")) << g.output;
}

}  // namespace
}  // namespace avla
