// vision encoder (qwen2.5-vl shape, small): conv patch embedding (or a small conv stem, see
// ModelConfig::vision_stem), learned 2-d positions
// (row + column tables), bidirectional transformer layers, 2x2 patch merger mlp to d_model.
#pragma once

#include <torch/torch.h>

#include "model/config.h"
#include "model/decoder_layer.h"

namespace avla {

struct VisionEncoderImpl : torch::nn::Module {
  explicit VisionEncoderImpl(const ModelConfig& cfg);
  // images: (B, n_cam, 3, H, W) uint8 at cfg.image_size -> (B, n_cam * tokens_per_cam, d_model)
  torch::Tensor forward(const torch::Tensor& images);
  // pixels in [-1, 1]: (n_img, 3, H, W) -> patch features (n_img, vision_dim, grid, grid)
  torch::Tensor embed_patches(const torch::Tensor& pixels);

  ModelConfig cfg;
  // stem "patch": 3 -> vision_dim, kernel = stride = patch_size
  torch::nn::Conv2d patch_embed{nullptr};
  // stem "conv": stem.i is 3x3 stride 2 (channels vision_dim / 2^(k-1-i), k = log2 patch_size),
  // each followed by gelu; stem_proj is 1x1, vision_dim -> vision_dim
  torch::nn::ModuleList stem{nullptr};
  torch::nn::Conv2d stem_proj{nullptr};
  torch::Tensor pos_embed_row;            // (grid, vision_dim)
  torch::Tensor pos_embed_col;            // (grid, vision_dim)
  torch::nn::ModuleList layers{nullptr};  // DecoderLayer x vision_layers, no rotary
  RMSNorm merger_norm{nullptr};           // per patch, before merging
  torch::nn::Linear merger_fc1{nullptr};  // 4 vision_dim -> 4 vision_dim
  torch::nn::Linear merger_fc2{nullptr};  // 4 vision_dim -> d_model
};
TORCH_MODULE(VisionEncoder);

}  // namespace avla
