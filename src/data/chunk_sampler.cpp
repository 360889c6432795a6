#include "data/chunk_sampler.h"

#include "data/observation.h"
#include "model/backend.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

TrainBatch TrainBatch::to(const torch::Device& device) const {
  return {obs.to(device), to_device(actions, device), to_device(valid, device),
          to_device(object_state, device)};
}

ChunkSampler::ChunkSampler(const Dataset& dataset, const Normalizer& normalizer,
                           const Tokenizer& tokenizer, int max_text_len)
    : dataset_(dataset) {
  state_norm_ = normalizer.state.normalize(dataset.state);
  actions_norm_ = normalizer.actions.normalize(dataset.actions);
  // the auxiliary loss's targets: positions in m, a padded slot constant 0, so std floors at 1 cm
  if (dataset.object_state.defined()) {
    object_norm_ = NormStats::compute(dataset.object_state, NormMode::MeanStd, 0.01)
                       .normalize(dataset.object_state);
  }
  std::vector<torch::Tensor> ids, masks;
  for (const auto& e : dataset.episodes) {
    TokenizedText t = tokenizer.encode(e.instruction, max_text_len);
    if (t.n_truncated > 0) {
      log_info("[data] warning: instruction of {} loses {} words past max_text_len {}", e.source,
               t.n_truncated, max_text_len);
    }
    auto [i, m] = token_tensors(t);
    ids.push_back(i);
    masks.push_back(m);
  }
  tokens_ = torch::cat(ids);
  token_mask_ = torch::cat(masks);
}

TrainBatch ChunkSampler::batch(const torch::Tensor& frame_ids) const {
  TrainBatch b;
  torch::Tensor episode = dataset_.frame_episode.index_select(0, frame_ids);  // (B)
  b.obs.images = dataset_.images.index_select(0, frame_ids);
  b.obs.state = state_norm_.index_select(0, frame_ids);
  b.obs.tokens = tokens_.index_select(0, episode);
  b.obs.token_mask = token_mask_.index_select(0, episode);
  // (B, L) frame ids -> (B, L, A)
  torch::Tensor chunk = dataset_.chunk_index.index_select(0, frame_ids);
  b.actions =
      actions_norm_.index_select(0, chunk.flatten()).view({chunk.size(0), chunk.size(1), -1});
  b.valid = dataset_.chunk_valid.index_select(0, frame_ids).to(torch::kFloat32);
  if (object_norm_.defined()) b.object_state = object_norm_.index_select(0, frame_ids);
  if (image_tokens_.defined()) b.obs.image_tokens = image_tokens_.index_select(0, frame_ids);
  return b;
}

void ChunkSampler::set_image_tokens(torch::Tensor tokens) {
  AVLA_CHECK(tokens.dim() == 3 && tokens.size(0) == n_frames(), "data",
             "image tokens have shape {}, expected [{},n_tok,d]", c10::str(tokens.sizes()),
             n_frames());
  image_tokens_ = std::move(tokens);
}

torch::Tensor ChunkSampler::sample_ids(int64_t batch_size, at::Generator& gen) const {
  // a weighted mixture draws each input's share; otherwise every frame alike
  if (dataset_.frame_weight.defined()) {
    return torch::multinomial(dataset_.frame_weight, batch_size, /*replacement=*/true, gen);
  }
  return torch::randint(n_frames(), {batch_size}, gen, torch::kInt64);
}

}  // namespace avla
