// the data flow of DESIGN.md §1 held by the includes: what a policy (and a server) links must
// never reach the trainer or the simulator; the model knows neither data nor sim; sim knows no
// model. follows quoted includes transitively from each folder's files. every include must also
// be of a module that CMakeLists.txt declares as a dependency (module_deps.txt, written by cmake),
// so the per-module libraries and their link check (layer_check_*) cover what the code uses.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

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

// module -> the modules it declares (CMakeLists.txt's asyncvla_module lines)
std::map<std::string, std::vector<std::string>> declared_deps() {
  std::ifstream in(ASYNCVLA_MODULE_DEPS);
  std::map<std::string, std::vector<std::string>> deps;
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream rest(line.substr(colon + 1));
    auto& list = deps[line.substr(0, colon)];
    for (std::string dep; rest >> dep;) list.push_back(dep);
  }
  return deps;
}

TEST(Layout, EveryIncludeIsOfAModuleThatCMakeDeclares) {
  const auto deps = declared_deps();
  ASSERT_GE(deps.size(), 10u) << ASYNCVLA_MODULE_DEPS;
  // every folder but cli (which may use them all) is a declared module
  const std::string src = test::source_dir() + "/src/";
  for (const auto& entry : fs::directory_iterator(src)) {
    const std::string folder = entry.path().filename().string();
    if (folder == "cli") continue;
    EXPECT_TRUE(deps.count(folder)) << folder << " is not a module in CMake";
  }
  const std::regex include_line(R"re(^\s*#\s*include\s+"([a-z_]+)/[^"]+")re");
  int n_checked = 0;
  for (const auto& [module, direct] : deps) {
    // the closure: public dependencies of dependencies are ours too
    std::set<std::string> allowed{module};
    std::vector<std::string> todo(direct.begin(), direct.end());
    while (!todo.empty()) {
      const std::string m = todo.back();
      todo.pop_back();
      if (!allowed.insert(m).second) continue;
      for (const auto& d : deps.at(m)) todo.push_back(d);
    }
    for (const auto& entry : fs::directory_iterator(src + module)) {
      std::ifstream in(entry.path());
      std::string line;
      std::smatch m;
      while (std::getline(in, line)) {
        if (!std::regex_search(line, m, include_line)) continue;
        ++n_checked;
        EXPECT_TRUE(allowed.count(m[1])) << entry.path().string() << " includes " << line
                                         << " but CMake's " << module << " does not link " << m[1];
      }
    }
  }
  EXPECT_GT(n_checked, 100);  // it did read the includes
}

}  // namespace
}  // namespace avla
