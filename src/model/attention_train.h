// the attention's element-wise work under autograd on the cpu (training, and any forward the
// no-grad fp32 kernel does not take): two autograd ops that replace the chains of small LibTorch
// ops around the attention's two matmuls with one pass forward and one backward each.
//   split_rotate_heads: the head split, the transposes and the rotary of q and k (before: a
//     transpose, a split, a negation, a cat, two casts of the tables, two products, a sum, and
//     the copy the score matmul made of q)
//   scaled_masked_softmax: the score scale, the additive mask and the softmax, computed in fp32
//     (before: a division, an add that promotes bf16 scores to fp32, the softmax and a cast back)
// storage fp32 or bf16 (autocast), arithmetic fp32.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/attention.h"

namespace avla {

// whether the two ops take an attention call: our cpu kernels on for qkv (B, T, heads, hd), fp32
// or bf16, hd a multiple of 16, rotary tables (T, hd) or none; mask undefined, or an additive
// fp32 bias without gradient shaped (B or 1, 1, T or 1, S)
bool attention_train_kernels_take(const torch::Tensor& qkv, const RotaryTable& rope,
                                  const torch::Tensor& mask, int64_t S);

// qkv: (B, T, H + 2 Hkv, hd) -> {q (B, H, T, hd), k (B, Hkv, T, hd), v (B, Hkv, T, hd)}, each
// contiguous in qkv's dtype (so the matmuls take them as they are); every q and k head rotated by
// rope (rotate half, as apply_rotary), none where its tables are undefined
std::vector<torch::Tensor> split_rotate_heads(const torch::Tensor& qkv, const RotaryTable& rope,
                                              int64_t n_kv_head);

// scores: (B, X, T, S), contiguous; mask as attention_train_kernels_take says, or undefined ->
// softmax over S of scores * scale + mask, (B, X, T, S) in scores' dtype
torch::Tensor scaled_masked_softmax(const torch::Tensor& scores, const torch::Tensor& mask,
                                    double scale);

}  // namespace avla
