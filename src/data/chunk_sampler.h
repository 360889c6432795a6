// turns dataset frames into model batches: normalized state and action chunks, tokenized
// instructions, the valid mask; samples frame ids with a seeded generator (uniformly, or by the
// dataset's mixture weights).
#pragma once

#include <torch/torch.h>

#include "data/dataset.h"
#include "data/normalizer.h"
#include "model/tokenizer.h"
#include "model/vla.h"

namespace avla {

struct TrainBatch {
  ObservationBatch obs;
  torch::Tensor actions;  // (B, L, A) normalized
  torch::Tensor valid;    // (B, L) float32
  // (B, object_state_dim) float32 object positions standardized over the dataset (mean, std
  // floored at 1 cm), or undefined when the dataset has no object states
  torch::Tensor object_state;
  TrainBatch to(const torch::Device& device) const;  // every defined tensor on device
};

class ChunkSampler {
 public:
  ChunkSampler(const Dataset& dataset, const Normalizer& normalizer, const Tokenizer& tokenizer,
               int max_text_len);
  // frame ids: (B) int64
  TrainBatch batch(const torch::Tensor& frame_ids) const;
  torch::Tensor sample_ids(int64_t batch_size, at::Generator& gen) const;
  // every frame's vision tokens (N, n_tok, d) from a frozen encoder: batches then carry them in
  // obs.image_tokens and the model skips its encoder
  void set_image_tokens(torch::Tensor tokens);
  int64_t n_frames() const { return dataset_.n_frames(); }
  int64_t n_cam() const { return dataset_.images.size(1); }

 private:
  const Dataset& dataset_;
  torch::Tensor state_norm_;    // (N, state_dim)
  torch::Tensor actions_norm_;  // (N, A)
  torch::Tensor tokens_;        // (E, T) int64
  torch::Tensor token_mask_;    // (E, T) bool
  torch::Tensor object_norm_;   // (N, object_state_dim) or undefined
  torch::Tensor image_tokens_;  // (N, n_tok, d) or undefined
};

}  // namespace avla
