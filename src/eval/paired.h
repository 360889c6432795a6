// paired comparison of two closed-loop evaluations on the same episodes (task, seed): success
// rates with wilson intervals, the discordant counts and the exact mcnemar p-value. reads the
// json that `asyncvla eval --out` writes, also with --variants (every variant's episodes pair up
// by variant, task and seed).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace avla {

struct PairedComparison {
  std::string name_a, name_b;  // "<mode> (<file>)"
  int episodes = 0;
  int successes_a = 0, successes_b = 0;
  int both = 0, only_a = 0, only_b = 0, neither = 0;
  double p_value = 1.0;  // exact mcnemar, two-sided
};

// a, b: eval reports (or variant aggregations); every ([variant,] task, seed) must appear in both
// exactly once, else an error naming the first episode that does not pair up. source_a/b name
// the files in errors and names.
PairedComparison compare_evaluations(const nlohmann::json& a, const std::string& source_a,
                                     const nlohmann::json& b, const std::string& source_b);

std::string format_comparison(const PairedComparison& c);

}  // namespace avla
