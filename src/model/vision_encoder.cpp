#include "model/vision_encoder.h"

#include "model/linear.h"
#include "util/error.h"

namespace avla {

VisionEncoderImpl::VisionEncoderImpl(const ModelConfig& cfg_) : cfg(cfg_) {
  const int64_t v = cfg.vision_dim, grid = cfg.vision_grid();
  if (cfg.vision_stem == "conv") {
    int n_conv = 0;
    while ((1 << n_conv) < cfg.patch_size) ++n_conv;
    stem = register_module("stem", torch::nn::ModuleList());
    int64_t in = 3;
    for (int i = 0; i < n_conv; ++i) {
      const int64_t out = std::max<int64_t>(v >> (n_conv - 1 - i), 8);
      stem->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(2).padding(1)));
      in = out;
    }
    stem_proj = register_module("stem_proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, v, 1)));
  } else {
    patch_embed = register_module(
        "patch_embed",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(3, v, cfg.patch_size).stride(cfg.patch_size)));
  }
  pos_embed_row = register_parameter("pos_embed_row", torch::randn({grid, v}) * 0.02);
  pos_embed_col = register_parameter("pos_embed_col", torch::randn({grid, v}) * 0.02);
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < cfg.vision_layers; ++i) {
    layers->push_back(DecoderLayer(v, cfg.vision_heads, cfg.vision_heads, cfg.vision_ff,
                                   /*qkv_bias=*/true, cfg.rms_eps));
  }
  merger_norm = register_module("merger_norm", RMSNorm(v, cfg.rms_eps));
  merger_fc1 = register_module("merger_fc1", torch::nn::Linear(4 * v, 4 * v));
  merger_fc2 = register_module("merger_fc2", torch::nn::Linear(4 * v, cfg.d_model));
}

torch::Tensor VisionEncoderImpl::embed_patches(const torch::Tensor& pixels) {
  if (!stem) return patch_embed(pixels);
  // (n_img, 3, H, W) -> (n_img, c_i, H / 2^(i+1), W / 2^(i+1)) ... -> (n_img, v, grid, grid)
  torch::Tensor x = pixels;
  for (const auto& conv : *stem) x = torch::gelu(conv->as<torch::nn::Conv2dImpl>()->forward(x));
  return stem_proj(x);
}

torch::Tensor VisionEncoderImpl::forward(const torch::Tensor& images) {
  AVLA_CHECK(images.dim() == 5 && images.size(1) == cfg.n_cam && images.size(2) == 3 &&
                 images.size(3) == cfg.image_size && images.size(4) == cfg.image_size,
             "vision_encoder", "images have shape {}, expected [B,{},3,{},{}]",
             c10::str(images.sizes()), cfg.n_cam, cfg.image_size, cfg.image_size);
  const int64_t B = images.size(0), n_img = B * cfg.n_cam;
  const int64_t v = cfg.vision_dim, grid = cfg.vision_grid(), half = grid / 2;

  // uint8 -> [-1, 1], patches: (n_img, v, grid, grid) -> (n_img, grid, grid, v)
  torch::Tensor x = images.reshape({n_img, 3, cfg.image_size, cfg.image_size})
                        .to(torch::kFloat32)
                        .mul(2.0 / 255.0)
                        .sub(1.0);
  x = embed_patches(x).permute({0, 2, 3, 1});
  x = x + pos_embed_row.view({1, grid, 1, v}) + pos_embed_col.view({1, 1, grid, v});
  // contiguous: the permuted layout would otherwise flow through every layer, and a linear of a
  // strided 3-d input runs as a batched matmul against the weight expanded per image
  x = x.reshape({n_img, grid * grid, v}).contiguous();

  // bidirectional layers: (n_img, grid^2, v)
  RotaryTable no_rope;
  for (const auto& layer : *layers) {
    x = layer->as<DecoderLayerImpl>()->forward(x, no_rope, nullptr, torch::Tensor());
  }

  // 2x2 merge: (n_img, half, 2, half, 2, v) -> (n_img, half^2, 4v) -> (n_img, half^2, d)
  x = merger_norm(x).view({n_img, half, 2, half, 2, v});
  x = x.permute({0, 1, 3, 2, 4, 5}).reshape({n_img, half * half, 4 * v});
  x = linear(torch::gelu(linear(x, merger_fc1)), merger_fc2);
  return x.reshape({B, cfg.n_cam * half * half, cfg.d_model});
}

}  // namespace avla
