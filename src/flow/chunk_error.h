// how far a generated chunk is from the demonstrated one, per action token: the e_l of the
// rater's labels (paper eq. 6), shared by rater training and the rater's offline evaluation.
#pragma once

#include <torch/torch.h>

#include <string>

#include "data/normalizer.h"

namespace avla {

// per-token error e_l = mean over action dims of (chunk - truth)^2: (B, L, A) x 2 -> (B, L)
torch::Tensor token_errors(const torch::Tensor& chunk, const torch::Tensor& truth);

// the same in the rater's label space: chunks are normalized; "action" unnormalizes both first
torch::Tensor label_space_errors(const torch::Tensor& chunk, const torch::Tensor& truth,
                                 const std::string& label_space, const NormStats& actions);

}  // namespace avla
