#include "flow/unified_loss.h"

#include "model/autocast.h"
#include "model/backend.h"
#include "util/error.h"

namespace avla {

FlowDraws FlowDraws::to(const torch::Device& device) const {
  return {to_device(tau, device), to_device(mask, device), to_device(noise, device),
          to_device(context_eps, device)};
}

FlowDraws draw_flow(const BatchShard& rows, int64_t chunk_len, int64_t action_dim,
                    const TrainConfig& tc, at::Generator& gen) {
  // K draws per observation: rows b*K .. b*K+K-1 belong to observation b; draws for all
  // B_global*K rows of the global batch, this shard keeps its rows
  const int64_t K = tc.flow_draws, L = chunk_len;
  const int64_t all = rows.total * K, first = rows.begin * K, last = rows.end * K;
  const double sfm_share = tc.vanilla ? 1.0 : tc.sfm_share;
  FlowDraws d;
  d.tau = sample_flow_time(all, gen).slice(0, first, last);                 // (B*K)
  d.mask = sample_flow_mask(all, L, sfm_share, gen).slice(0, first, last);  // (B*K, L)
  d.noise = torch::randn({all, L, action_dim}, gen).slice(0, first, last);
  // context noise: drawn for all rows like the rest, and only when on (a run without it keeps the
  // stream it always had)
  if (tc.context_noise > 0) {
    d.context_eps = torch::randn({all, L, action_dim}, gen).slice(0, first, last);
  }
  return d;
}

TrainLossTerms unified_flow_loss(VLAImpl& model, const TrainBatch& batch, const TrainConfig& tc,
                                 const FlowDraws& draws) {
  const int64_t K = tc.flow_draws;
  torch::Tensor actions = batch.actions.repeat_interleave(K, 0);  // (B*K, L, A)
  torch::Tensor valid = batch.valid.repeat_interleave(K, 0);      // (B*K, L)
  AVLA_CHECK(draws.tau.size(0) == actions.size(0), "train",
             "{} flow draws for a batch of {} rows x {} draws", draws.tau.size(0),
             batch.actions.size(0), K);
  // the loss sees masked tokens only, where the context equals the data
  torch::Tensor context = actions;
  if (draws.context_eps.defined()) {
    context = perturb_context(actions, draws.mask, tc.context_noise, draws.context_eps);
  }
  torch::Tensor noisy = make_noisy_actions(context, draws.noise, draws.tau, draws.mask);  // eq. 5
  torch::Tensor target = draws.noise - actions;  // u = n - a
  torch::Tensor velocity, object;
  {
    Bf16Autocast autocast(tc.bf16, actions.device().type());
    KvCache prefix = model.encode_prefix(batch.obs);
    if (tc.aux_object_weight > 0) object = model.predict_object_state(prefix);  // (B, D)
    velocity = model.velocity(prefix.repeat_rows(K), noisy, token_time(draws.tau, draws.mask));
  }
  TrainLossTerms terms{loss_flow_terms(velocity.to(torch::kFloat32), target, draws.mask, valid),
                       {}};
  if (object.defined()) {
    AVLA_CHECK(batch.object_state.defined() && batch.object_state.sizes() == object.sizes(),
               "train", "the object head predicts {} but the batch's object states are {}",
               c10::str(object.sizes()),
               batch.object_state.defined() ? c10::str(batch.object_state.sizes()) : "missing");
    terms.object_sum = (object - batch.object_state).pow(2).sum();
  }
  return terms;
}

TrainLossTerms unified_flow_loss(VLAImpl& model, const TrainBatch& batch, const TrainConfig& tc,
                                 at::Generator& gen, const BatchShard& shard) {
  const BatchShard rows = shard.of_batch(batch.actions.size(0), "train");
  // drawn on the cpu (the same draws on every device), used where the batch is
  const FlowDraws draws = draw_flow(rows, batch.actions.size(1), batch.actions.size(2), tc, gen)
                              .to(batch.actions.device());
  return unified_flow_loss(model, batch, tc, draws);
}

}  // namespace avla
