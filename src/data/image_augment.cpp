#include "data/image_augment.h"

#include "util/error.h"

namespace avla {

ShiftOffsets draw_shift(const BatchShard& shard, int64_t n_cam, int pad, at::Generator& gen) {
  AVLA_CHECK(pad >= 0, "augment", "shift {} must be >= 0", pad);
  if (pad == 0) return {};
  // offsets in [-pad, pad] per image of the global batch; this shard's images keep theirs
  const int64_t n_all = shard.total * n_cam;
  torch::Tensor dy = torch::randint(-pad, pad + 1, {n_all, 1}, gen, torch::kInt64)
                         .slice(0, shard.begin * n_cam, shard.end * n_cam);
  torch::Tensor dx = torch::randint(-pad, pad + 1, {n_all, 1}, gen, torch::kInt64)
                         .slice(0, shard.begin * n_cam, shard.end * n_cam);
  return {dy, dx};
}

torch::Tensor apply_shift(const torch::Tensor& images, const ShiftOffsets& offsets) {
  AVLA_CHECK(images.dim() == 5 && images.size(2) == 3, "augment",
             "images have shape {}, expected [B,n_cam,3,H,W]", c10::str(images.sizes()));
  if (!offsets.dy.defined() || images.size(1) == 0) return images;
  const int64_t B = images.size(0), C = images.size(1), H = images.size(3), W = images.size(4);
  const int64_t n = B * C;
  AVLA_CHECK(offsets.dy.size(0) == n && offsets.dx.size(0) == n, "augment",
             "{} shift offsets for {} images", offsets.dy.size(0), n);
  // out[r][c] = in[clamp(r + dy)][clamp(c + dx)]
  torch::Tensor x = images.reshape({n, 3, H, W});
  torch::Tensor rows =
      (torch::arange(H, torch::kInt64).view({1, H}) + offsets.dy).clamp(0, H - 1);  // (n, H)
  torch::Tensor cols =
      (torch::arange(W, torch::kInt64).view({1, W}) + offsets.dx).clamp(0, W - 1);  // (n, W)
  x = x.gather(2, rows.view({n, 1, H, 1}).expand({n, 3, H, W}));
  x = x.gather(3, cols.view({n, 1, 1, W}).expand({n, 3, H, W}));
  return x.reshape(images.sizes());
}

torch::Tensor random_shift(const torch::Tensor& images, int pad, at::Generator& gen,
                           const BatchShard& shard) {
  AVLA_CHECK(images.dim() == 5 && images.size(2) == 3, "augment",
             "images have shape {}, expected [B,n_cam,3,H,W]", c10::str(images.sizes()));
  const BatchShard part = shard.of_batch(images.size(0), "augment");
  return apply_shift(images, draw_shift(part, images.size(1), pad, gen));
}

}  // namespace avla
