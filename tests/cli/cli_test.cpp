// the binary end to end: exit codes and one clear error line for bad input.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace avla {
namespace {

bool contains(const std::string& s, const std::string& needle) {
  return s.find(needle) != std::string::npos;
}

TEST(Cli, UnknownFlagIsAnErrorWithUsage) {
  test::CliRun r = test::run_cli("train --data x --out y --bogus-flag");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "--bogus-flag")) << r.output;
  EXPECT_TRUE(contains(r.output, "Usage:")) << r.output;
}

TEST(Cli, HelpShowsDefaults) {
  test::CliRun r = test::run_cli("infer --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(contains(r.output, "--mode")) << r.output;
  EXPECT_TRUE(contains(r.output, "=auto")) << r.output;
}

// eval, infer and serve take alg. 1's settings under the same names with the same defaults
TEST(Cli, PolicyCommandsShareTheActFlags) {
  for (const char* command : {"eval", "infer", "serve"}) {
    const test::CliRun r = test::run_cli(std::string(command) + " --help");
    ASSERT_EQ(r.code, 0) << command;
    for (const char* flag : {"--mode TEXT:{auto,sfm,random,async}=auto", "--threshold",
                             "--random-prob", "--mask-window", "--flow-steps", "--noise-scale",
                             "--gripper TEXT:{binary,continuous}=binary"}) {
      EXPECT_TRUE(contains(r.output, flag)) << command << " lacks " << flag << ":\n" << r.output;
    }
  }
}

TEST(Cli, MissingDataNamesThePath) {
  test::CliRun r = test::run_cli("train --data /nonexistent/dir --out /tmp/x_asyncvla_never");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.output, "error: [data] '/nonexistent/dir' does not exist")) << r.output;
}

TEST(Cli, BadConfigFieldIsNamed) {
  std::string dir = test::temp_dir("cli_cfg");
  std::ofstream(dir + "/c.json") << R"({"model": {"d_modle": 64}})";
  test::CliRun r =
      test::run_cli("train --data " + dir + " --config " + dir + "/c.json --out " + dir + "/run");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.output, "unknown field 'model.d_modle'")) << r.output;
}

TEST(Cli, SynthTrainInferEndToEnd) {
  std::string dir = test::temp_dir("cli_e2e");
  ASSERT_EQ(
      test::run_cli("synth --out " + dir + "/data --n-tasks 1 --episodes 2 --resolution 32").code,
      0);
  test::CliRun t = test::run_cli("train --data " + dir + "/data --config " + test::source_dir() +
                                 "/configs/tiny.json --out " + dir + "/run --steps 4");
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_TRUE(contains(t.output, "step 4/4 | loss")) << t.output;
  test::CliRun i = test::run_cli("infer --ckpt " + dir + "/run --data " + dir +
                                 "/data/synthetic_task0.hdf5 --demo 1 --step 2 --mode random");
  ASSERT_EQ(i.code, 0) << i.output;
  EXPECT_TRUE(contains(i.output, "mse vs ground truth")) << i.output;
  // the default mode is auto: sfm for a checkpoint without a rater
  test::CliRun plain = test::run_cli("infer --ckpt " + dir + "/run --data " + dir +
                                     "/data/synthetic_task0.hdf5 --demo 1 --step 2");
  ASSERT_EQ(plain.code, 0) << plain.output;
  EXPECT_TRUE(contains(plain.output, "mode: sfm")) << plain.output;
  // and async once it has one
  ASSERT_EQ(
      test::run_cli("train-rater --ckpt " + dir + "/run --data " + dir + "/data --steps 2").code,
      0);
  test::CliRun rated = test::run_cli("infer --ckpt " + dir + "/run --data " + dir +
                                     "/data/synthetic_task0.hdf5 --demo 1 --step 2");
  ASSERT_EQ(rated.code, 0) << rated.output;
  EXPECT_TRUE(contains(rated.output, "mode: async")) << rated.output;
  test::CliRun bad = test::run_cli("infer --ckpt " + dir + "/run --data " + dir +
                                   "/data/synthetic_task0.hdf5 --demo 9");
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(contains(bad.output, "--demo 9 out of range")) << bad.output;
  // garbled weights: one clear error, no crash
  std::ofstream(dir + "/run/model.safetensors", std::ios::trunc) << "garbage!garbage!";
  test::CliRun g =
      test::run_cli("infer --ckpt " + dir + "/run --data " + dir + "/data/synthetic_task0.hdf5");
  EXPECT_EQ(g.code, 1);
  EXPECT_TRUE(contains(g.output, "error: [safetensors]")) << g.output;
  EXPECT_TRUE(contains(g.output, "model.safetensors")) << g.output;
}

}  // namespace
}  // namespace avla
