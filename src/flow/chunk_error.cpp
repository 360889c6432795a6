#include "flow/chunk_error.h"

#include "model/rater.h"
#include "util/error.h"

namespace avla {

torch::Tensor token_errors(const torch::Tensor& chunk, const torch::Tensor& truth) {
  AVLA_CHECK(chunk.sizes() == truth.sizes() && chunk.dim() == 3, "rater",
             "sfm chunk {} and ground truth {} must both be [B, L, A]", c10::str(chunk.sizes()),
             c10::str(truth.sizes()));
  return (chunk - truth).pow(2).mean(-1);  // (B, L)
}

torch::Tensor label_space_errors(const torch::Tensor& chunk, const torch::Tensor& truth,
                                 const std::string& label_space, const NormStats& actions) {
  check_label_space(label_space);
  if (label_space == "normalized") return token_errors(chunk, truth);
  return token_errors(actions.unnormalize(chunk), actions.unnormalize(truth));
}

}  // namespace avla
