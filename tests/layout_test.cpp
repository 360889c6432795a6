// the data flow of DESIGN.md §1 held by the includes: what a policy (and a server) links must
// never reach the trainer or the simulator; the model knows neither data nor sim; sim knows no
// model. follows quoted includes transitively from each folder's files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "test_util.h"

namespace avla {
namespace {

namespace fs = std::filesystem;

// every project header reached from the files of folder (paths relative to src/)
std::set<std::string> reached_from(const std::string& folder) {
  const std::string src = test::source_dir() + "/src/";
  std::vector<std::string> todo;
  for (const auto& entry : fs::directory_iterator(src + folder)) {
    todo.push_back(folder + "/" + entry.path().filename().string());
  }
  std::set<std::string> seen;
  const std::regex include_line(R"re(^\s*#\s*include\s+"([^"]+)")re");
  while (!todo.empty()) {
    const std::string file = todo.back();
    todo.pop_back();
    std::ifstream in(src + file);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_search(line, m, include_line) && seen.insert(m[1]).second) {
        todo.push_back(m[1]);
      }
    }
  }
  return seen;
}

std::vector<std::string> under(const std::set<std::string>& files, const std::string& folder) {
  std::vector<std::string> out;
  for (const auto& f : files)
    if (f.rfind(folder + "/", 0) == 0) out.push_back(f);
  return out;
}

TEST(Layout, PolicyCheckpointAndServerNeverReachTrainOrSim) {
  for (const char* folder : {"policy", "checkpoint", "serve"}) {
    const auto reached = reached_from(folder);
    EXPECT_TRUE(reached.count("checkpoint/checkpoint.h") || std::string(folder) == "checkpoint");
    EXPECT_EQ(under(reached, "train"), std::vector<std::string>{}) << folder;
    EXPECT_EQ(under(reached, "sim"), std::vector<std::string>{}) << folder;
  }
}

TEST(Layout, ModelKnowsNoDataOrSimAndSimKnowsNoModel) {
  const auto model = reached_from("model");
  EXPECT_GT(model.size(), 5u);  // it did follow the includes
  EXPECT_EQ(under(model, "data"), std::vector<std::string>{});
  EXPECT_EQ(under(model, "sim"), std::vector<std::string>{});
  const auto sim = reached_from("sim");
  EXPECT_EQ(under(sim, "model"), std::vector<std::string>{});
  EXPECT_EQ(under(sim, "policy"), std::vector<std::string>{});
}

}  // namespace
}  // namespace avla
