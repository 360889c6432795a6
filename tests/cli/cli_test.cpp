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
  EXPECT_TRUE(contains(r.output, "=sfm")) << r.output;
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
      test::run_cli("synth --out " + dir + "/data --tasks 1 --episodes 2 --resolution 32").code, 0);
  test::CliRun t = test::run_cli("train --data " + dir + "/data --config " + test::source_dir() +
                                 "/configs/tiny.json --out " + dir + "/run --steps 4");
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_TRUE(contains(t.output, "step 4/4 | loss")) << t.output;
  test::CliRun i = test::run_cli("infer --ckpt " + dir + "/run --data " + dir +
                                 "/data/synthetic_task0.hdf5 --demo 1 --step 2 --mode random");
  ASSERT_EQ(i.code, 0) << i.output;
  EXPECT_TRUE(contains(i.output, "mse vs ground truth")) << i.output;
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
