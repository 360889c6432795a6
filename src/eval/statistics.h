// evaluation statistics: wilson score intervals for success rates, auroc by the rank-sum.
#pragma once

#include <utility>
#include <vector>

namespace avla {

// 95 % (z = 1.96) wilson score interval of successes / n; n = 0 gives [0, 1]
std::pair<double, double> wilson_interval(int successes, int n, double z = 1.96);

// area under the roc curve of scores for labels (true = positive): the probability that a random
// positive scores above a random negative, ties counting half. needs both classes (else 0.5).
double auroc(const std::vector<double>& scores, const std::vector<bool>& labels);

// two-sided exact mcnemar test of paired successes: only_a episodes solved by a alone, only_b by
// b alone; under h0 each discordant pair is a fair coin. p = min(1, 2 P(X <= min)), X ~ Bin(n,
// 1/2).
double mcnemar_exact_p(int only_a, int only_b);

}  // namespace avla
