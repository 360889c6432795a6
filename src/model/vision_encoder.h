// vision encoder (qwen2.5-vl shape, small): conv patch embedding, learned 2-d positions
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

  ModelConfig cfg;
  torch::nn::Conv2d patch_embed{nullptr};  // 3 -> vision_dim, kernel = stride = patch_size
  torch::Tensor pos_embed_row;             // (grid, vision_dim)
  torch::Tensor pos_embed_col;             // (grid, vision_dim)
  torch::nn::ModuleList layers{nullptr};   // DecoderLayer x vision_layers, no rotary
  RMSNorm merger_norm{nullptr};            // per patch, before merging
  torch::nn::Linear merger_fc1{nullptr};   // 4 vision_dim -> 4 vision_dim
  torch::nn::Linear merger_fc2{nullptr};   // 4 vision_dim -> d_model
};
TORCH_MODULE(VisionEncoder);

}  // namespace avla
