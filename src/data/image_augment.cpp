#include "data/image_augment.h"

#include "util/error.h"

namespace avla {

torch::Tensor random_shift(const torch::Tensor& images, int pad, at::Generator& gen,
                           const BatchShard& shard) {
  AVLA_CHECK(images.dim() == 5 && images.size(2) == 3, "augment",
             "images have shape {}, expected [B,n_cam,3,H,W]", c10::str(images.sizes()));
  AVLA_CHECK(pad >= 0, "augment", "shift {} must be >= 0", pad);
  if (pad == 0) return images;
  const int64_t B = images.size(0), C = images.size(1), H = images.size(3), W = images.size(4);
  const BatchShard part = shard.of_batch(B, "augment");
  const int64_t n = B * C;
  torch::Tensor x = images.reshape({n, 3, H, W});
  // offsets in [-pad, pad] per image of the global batch; this shard's images keep theirs.
  // out[r][c] = in[clamp(r + dy)][clamp(c + dx)]
  const int64_t n_all = part.total * C;
  torch::Tensor dy = torch::randint(-pad, pad + 1, {n_all, 1}, gen, torch::kInt64)
                         .slice(0, part.begin * C, part.end * C);
  torch::Tensor dx = torch::randint(-pad, pad + 1, {n_all, 1}, gen, torch::kInt64)
                         .slice(0, part.begin * C, part.end * C);
  torch::Tensor rows =
      (torch::arange(H, torch::kInt64).view({1, H}) + dy).clamp(0, H - 1);  // (n, H)
  torch::Tensor cols =
      (torch::arange(W, torch::kInt64).view({1, W}) + dx).clamp(0, W - 1);  // (n, W)
  x = x.gather(2, rows.view({n, 1, H, 1}).expand({n, 3, H, W}));
  x = x.gather(3, cols.view({n, 1, 1, W}).expand({n, 3, H, W}));
  return x.reshape(images.sizes());
}

}  // namespace avla
