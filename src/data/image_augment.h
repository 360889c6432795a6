// training-time image augmentation. random shift (drq / diffusion policy style): each image is
// padded by replicating its border `pad` pixels and cropped back at a random offset, i.e. shifted
// by up to +-pad pixels in x and y, independently per image and camera.
#pragma once

#include <torch/torch.h>

#include "util/batch_shard.h"

namespace avla {

// images: (B, n_cam, 3, H, W) uint8 -> same shape and dtype; pad 0 returns the input unchanged.
// the offsets are drawn for all rows of the global batch and images holds rows [begin, end) of
// it (shard.total 0: images is the whole batch).
torch::Tensor random_shift(const torch::Tensor& images, int pad, at::Generator& gen,
                           const BatchShard& shard = {});

}  // namespace avla
