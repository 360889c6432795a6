#include "eval/paired.h"

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "eval/statistics.h"
#include "util/error.h"

namespace avla {

namespace {

using EpisodeKey = std::pair<std::string, uint64_t>;  // ("[variant/]task", seed)

// adds one report's episodes to table, their task names prefixed by prefix
void add_episodes(const nlohmann::json& report, const std::string& source,
                  const std::string& prefix, std::map<EpisodeKey, bool>& table) {
  AVLA_CHECK(report.is_object() && report.contains("episodes") && report["episodes"].is_array(),
             "compare", "{}: not an eval report (no 'episodes' array, no 'variants' array)",
             source);
  for (const auto& e : report["episodes"]) {
    AVLA_CHECK(
        e.is_object() && e.contains("task") && e["task"].is_string() && e.contains("seed") &&
            e["seed"].is_number_unsigned() && e.contains("success") && e["success"].is_boolean(),
        "compare", "{}: an episode lacks task (string), seed (unsigned) or success (bool)", source);
    const EpisodeKey key(prefix + e["task"].get<std::string>(), e["seed"].get<uint64_t>());
    AVLA_CHECK(table.emplace(key, e["success"].get<bool>()).second, "compare",
               "{}: episode {} seed {} appears twice", source, key.first, key.second);
  }
}

// (task, seed) -> success of one report; a variant aggregation (eval --variants) pairs every
// variant's episodes, keyed "variant/task"
std::map<EpisodeKey, bool> episode_table(const nlohmann::json& report, const std::string& source) {
  std::map<EpisodeKey, bool> table;
  if (report.is_object() && report.contains("variants")) {
    AVLA_CHECK(report["variants"].is_array() && !report["variants"].empty(), "compare",
               "{}: 'variants' is not a non-empty array of eval reports", source);
    for (const auto& v : report["variants"]) {
      AVLA_CHECK(v.is_object() && v.contains("variant") && v["variant"].is_string(), "compare",
                 "{}: a report in 'variants' lacks its variant name", source);
      add_episodes(v, source, v["variant"].get<std::string>() + "/", table);
    }
  } else {
    add_episodes(report, source, "", table);
  }
  return table;
}

std::string report_name(const nlohmann::json& report, const std::string& source) {
  const std::string mode = report.contains("mode") && report["mode"].is_string()
                               ? report["mode"].get<std::string>()
                               : "?";
  return fmt::format("{} ({})", mode, source);
}

}  // namespace

PairedComparison compare_evaluations(const nlohmann::json& a, const std::string& source_a,
                                     const nlohmann::json& b, const std::string& source_b) {
  const auto ta = episode_table(a, source_a), tb = episode_table(b, source_b);
  PairedComparison c;
  c.name_a = report_name(a, source_a);
  c.name_b = report_name(b, source_b);
  for (const auto& [key, success_a] : ta) {
    auto it = tb.find(key);
    AVLA_CHECK(it != tb.end(), "compare", "episode {} seed {} of {} is not in {}", key.first,
               key.second, source_a, source_b);
    const bool success_b = it->second;
    c.successes_a += success_a;
    c.successes_b += success_b;
    c.both += success_a && success_b;
    c.only_a += success_a && !success_b;
    c.only_b += !success_a && success_b;
    c.neither += !success_a && !success_b;
  }
  AVLA_CHECK(ta.size() == tb.size(), "compare", "{} has {} episodes, {} has {}", source_a,
             ta.size(), source_b, tb.size());
  c.episodes = static_cast<int>(ta.size());
  c.p_value = mcnemar_exact_p(c.only_a, c.only_b);
  return c;
}

std::string format_comparison(const PairedComparison& c) {
  auto rate = [&](int s) {
    const auto [lo, hi] = wilson_interval(s, c.episodes);
    return fmt::format("{}/{} = {:.1f}% (95% CI {:.1f}-{:.1f}%)", s, c.episodes,
                       100.0 * s / std::max(1, c.episodes), 100 * lo, 100 * hi);
  };
  return fmt::format(
      "A {}: {}\nB {}: {}\npaired: both {} | only A {} | only B {} | neither {} | exact McNemar "
      "p = {:.4g}\n",
      c.name_a, rate(c.successes_a), c.name_b, rate(c.successes_b), c.both, c.only_a, c.only_b,
      c.neither, c.p_value);
}

}  // namespace avla
