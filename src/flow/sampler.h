// inference samplers (paper alg. 1): synchronous flow matching (sfm) from pure noise, and
// asynchronous flow matching (afm) that regenerates only masked tokens while unmasked tokens stay
// at their sfm values as clean context. both reuse one kv-cache for every step.
#pragma once

#include <torch/torch.h>

#include "model/vla.h"

namespace avla {

// N Euler steps from tau = 1 (noise (B, L, A)) to tau = 0, every token updated. -> (B, L, A)
torch::Tensor sample_sfm(VLAImpl& model, const KvCache& cache, const torch::Tensor& noise,
                         int n_steps);

// alg. 1: start = sfm chunk where mask == 0, noise where mask == 1; N Euler steps updating only
// masked tokens, time input tau * m. unmasked tokens are returned bit-identical. -> (B, L, A)
// mask: (B, L) float or bool.
torch::Tensor sample_afm(VLAImpl& model, const KvCache& cache, const torch::Tensor& sfm_actions,
                         const torch::Tensor& mask, const torch::Tensor& noise, int n_steps);

}  // namespace avla
