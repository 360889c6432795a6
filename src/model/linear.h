// y = x W^T + b for the layers of the model. at inference with few rows (a batch-1 denoising
// step has 10 action tokens) a register-tiled kernel runs instead of LibTorch's GEMM: avx-512
// tiles of up to 12 rows where the cpu has it, avx2 tiles of 5 rows otherwise (or, at
// --precision bf16, an AVX512-BF16 kernel on bf16 weights at twice the multiply-adds). it reads a
// copy of the weight packed in panels of 16 output columns (made on first use, kept while the
// weight lives, remade when its version counter moves), so it needs no horizontal sums and
// streams the weight front to back once a tile. everything else (autograd, large M, other
// dtypes, CPUs without AVX2/FMA) goes through torch::linear.
#pragma once

#include <torch/torch.h>

namespace avla {

// rows at or below this use the packed kernel (when autograd is off): it is as fast as or faster
// than LibTorch's GEMM up to the 128 vision tokens of a 2-camera 64x64 observation
constexpr int64_t kSmallLinearMaxRows = 128;

// x: (..., in), weight: (out, in), bias: (out) or undefined -> (..., out)
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias);

// the same through a torch::nn::Linear's parameters
torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer);

// the small-M kernel itself (tests compare it with torch::linear): float32, contiguous,
// x (M, K), weight (N, K), bias (N) or undefined -> (M, N). throws when the CPU lacks AVX2/FMA
// (cpu_has_avx2_fma() in model/simd.h).
torch::Tensor linear_small_m(const torch::Tensor& x, const torch::Tensor& weight,
                             const torch::Tensor& bias);

// the fp32 small-M kernel uses avx-512 where the cpu has it (16 columns a register, up to 12 rows
// a tile, so a denoising step's 10 rows stream each weight panel once); off: the avx2 kernel of
// 5-row tiles everywhere (tests and the bench compare the two). on by default; process-wide
void set_linear_avx512(bool on);

// its bf16 twin (kernel_precision() == Precision::Bf16, model/backend.h): x and the weight rounded
// to bf16, products summed in fp32; the same arguments -> (M, N) float32. throws when the CPU
// lacks avx512-bf16 (cpu_has_avx512_bf16() in model/simd.h)
torch::Tensor linear_small_m_bf16(const torch::Tensor& x, const torch::Tensor& weight,
                                  const torch::Tensor& bias);

}  // namespace avla
