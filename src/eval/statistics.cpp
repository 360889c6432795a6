#include "eval/statistics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/error.h"

namespace avla {

std::pair<double, double> wilson_interval(int successes, int n, double z) {
  AVLA_CHECK(successes >= 0 && successes <= n, "eval", "successes {} outside [0, {}]", successes,
             n);
  if (n == 0) return {0.0, 1.0};
  const double p = static_cast<double>(successes) / n, z2 = z * z;
  const double centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
  const double half = z / (1.0 + z2 / n) * std::sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double auroc(const std::vector<double>& scores, const std::vector<bool>& labels) {
  AVLA_CHECK(scores.size() == labels.size(), "eval", "{} scores for {} labels", scores.size(),
             labels.size());
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // average ranks (1-based) over ties, then the mann-whitney u of the positives
  double rank_sum = 0.0;
  size_t n_pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) {
      if (labels[order[k]]) {
        rank_sum += rank;
        ++n_pos;
      }
    }
    i = j + 1;
  }
  const size_t n_neg = n - n_pos;
  if (n_pos == 0 || n_neg == 0) return 0.5;
  const double u = rank_sum - static_cast<double>(n_pos) * (n_pos + 1) / 2.0;
  return u / (static_cast<double>(n_pos) * n_neg);
}

double mcnemar_exact_p(int only_a, int only_b) {
  AVLA_CHECK(only_a >= 0 && only_b >= 0, "eval", "discordant counts {} and {} must be >= 0", only_a,
             only_b);
  const int n = only_a + only_b, k = std::min(only_a, only_b);
  if (n == 0) return 1.0;
  // sum_{i <= k} C(n, i) / 2^n in logs (n may be hundreds)
  double tail = 0.0;
  for (int i = 0; i <= k; ++i) {
    tail += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) -
                     n * std::log(2.0));
  }
  return std::min(1.0, 2.0 * tail);
}

}  // namespace avla
