// the unified sfm + afm training loss (paper alg. 2, eq. 4) of one batch: the random draws
// (tau, mask, noise) and the forward under optional bf16 autocast. the trainer, the benchmarks and
// the device check all call this one implementation.
#pragma once

#include <torch/torch.h>

#include "data/chunk_sampler.h"
#include "flow/flow_matching.h"
#include "model/config.h"
#include "util/batch_shard.h"

namespace avla {

// one batch's loss terms on this rank's rows
struct TrainLossTerms {
  FlowLossTerms flow;        // eq. 4's two sums over masked, valid action elements
  torch::Tensor object_sum;  // () the object head's squared error summed over rows and dims (with
                             // graph), or undefined when tc.aux_object_weight is 0
};

// one batch's alg. 2 draws for tc.flow_draws rows per observation, made for the whole global
// batch and sliced to this rank's rows: tau (R), mask (R, L), noise (R, L, A) and, when
// tc.context_noise > 0, the context noise (R, L, A), with R = rows * tc.flow_draws
struct FlowDraws {
  torch::Tensor tau, mask, noise, context_eps;
  FlowDraws to(const torch::Device& device) const;
};
FlowDraws draw_flow(const BatchShard& rows, int64_t chunk_len, int64_t action_dim,
                    const TrainConfig& tc, at::Generator& gen);

// the loss of a batch with its draws
TrainLossTerms unified_flow_loss(VLAImpl& model, const TrainBatch& batch, const TrainConfig& tc,
                                 const FlowDraws& draws);

// one batch's unified loss (alg. 2): encodes each observation once, then draws tc.flow_draws
// (tau, mask, noise) per observation from gen (masks all ones when tc.vanilla, else alg. 2 rows
// with tc.sfm_share plain-sfm rows), runs the forward (bf16 autocast when tc.bf16) and returns
// the two sums of eq. 4 over masked, valid elements of all draws, and the auxiliary object loss's
// sum when tc.aux_object_weight > 0 (from the same encoded prefix). batch holds the rows of shard;
// the draws are made for the whole global batch (total 0: batch is the whole batch).
TrainLossTerms unified_flow_loss(VLAImpl& model, const TrainBatch& batch, const TrainConfig& tc,
                                 at::Generator& gen, const BatchShard& shard = {});

}  // namespace avla
