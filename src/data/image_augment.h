// training-time image augmentation. random shift (drq / diffusion policy style): each image is
// padded by replicating its border `pad` pixels and cropped back at a random offset, i.e. shifted
// by up to +-pad pixels in x and y, independently per image and camera.
#pragma once

#include <torch/torch.h>

#include "util/batch_shard.h"

namespace avla {

// the offsets of one batch's images: dy, dx (n_rows * n_cam, 1) int64 in [-pad, pad] for the
// rows of shard (undefined when pad is 0: no shift, nothing drawn)
struct ShiftOffsets {
  torch::Tensor dy, dx;
};
// draws the offsets for all rows of the global batch (shard.total rows) and keeps shard's
ShiftOffsets draw_shift(const BatchShard& shard, int64_t n_cam, int pad, at::Generator& gen);
// images: (B, n_cam, 3, H, W) uint8 -> same shape and dtype, each image shifted by its offsets
torch::Tensor apply_shift(const torch::Tensor& images, const ShiftOffsets& offsets);

// draw_shift then apply_shift. images: (B, n_cam, 3, H, W) uint8 -> same shape and dtype; pad 0
// returns the input unchanged. images holds rows [begin, end) of the global batch (shard.total 0:
// images is the whole batch).
torch::Tensor random_shift(const torch::Tensor& images, int pad, at::Generator& gen,
                           const BatchShard& shard = {});

}  // namespace avla
