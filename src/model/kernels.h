// the raw side of our cpu kernels, for code that runs several of them in one parallel region of
// its own (model/fused_layer runs a whole decoder layer so). each is the function the per-op
// path runs (model/linear, model/attention, model/rms_norm, model/activation, where they are
// defined), on raw pointers over a share of the work, with the same bits. all need the cpu with
// avx2 and fma (use_cpu_kernels); the bf16 forms need avx512-bf16.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "model/attention.h"

namespace avla {

struct RMSNormImpl;

// --- model/linear: the packed small-M linear

// a layer's weight packed at the kernel_precision() of the call (the packed copy is the one
// linear() uses, kept alive by this handle), and its bias
struct PackedLinear {
  torch::Tensor panels;  // fp32 (n_panel, K, 16) or bf16 (n_panel, K2, 16, 2)
  torch::Tensor bias;    // (N) contiguous, or undefined
  int64_t n_out = 0, n_in = 0, n_panel = 0;
  bool bf16 = false;    // x rows in bf16, padded to an even length (round_rows_bf16)
  bool avx512 = false;  // fp32: the avx-512 tiles (set_linear_avx512 at packing)
};
PackedLinear pack_linear(const torch::Tensor& weight, const torch::Tensor& bias);
PackedLinear pack_linear(const torch::nn::Linear& layer);

// y[m][n] = x[m] . w[n] + b[n] (+ residual[m][n]) for m < M and the columns of the panels
// [p0, p1) (16 columns a panel). x: M rows of n_in floats, or for a bf16 w M rows of
// round_up(n_in, 2) bf16 values; y and residual rows are ld floats apart, and residual may be y
// itself. a column's sums do not depend on the panel range: any split gives linear()'s bits
void linear_panels(const PackedLinear& w, const void* x, int64_t M, float* y, int64_t ld,
                   const float* residual, int64_t p0, int64_t p1);

// x (M, K) fp32 rounded to bf16 as c10::BFloat16 rounds (to nearest even, nan to a quiet nan),
// each row padded with a zero to an even length: the bf16 linear's input
void round_rows_bf16(const float* x, int64_t M, int64_t K, uint16_t* out);

// --- model/attention: the fused no-grad attention (head_dim a multiple of 8)

// per (batch row, kv head) task: rotary on its q/k rows, scores against [cached keys | this
// block's keys] plus an additive key bias, softmax, weighted values
struct AttentionKernelArgs {
  const float* qkv = nullptr;     // (B, T, H + 2 Hkv, hd): the q/k/v projection
  const float* past_k = nullptr;  // (B, Hkv, P, hd), or null with P = 0
  const float* past_v = nullptr;
  const float* past_k_t = nullptr;  // (B, Hkv, hd, round_up8(P)) the cached keys transposed, or
                                    // null: transposed by each task
  const float* cos = nullptr;       // (T, hd) rotary rows of these T tokens, or null: none
  const float* sin = nullptr;
  const float* bias = nullptr;   // (B, P + T) additive key bias, or null
  float* k_new = nullptr;        // (B, Hkv, T, hd) out: this block's rotated keys
  float* v_new = nullptr;        // (B, Hkv, T, hd) out: its values, or null: not kept
  float* k_t_new = nullptr;      // (B, Hkv, hd, round_up8(T)) out: k_new transposed, or null
  float* out = nullptr;          // (B, T, H hd) out in fp32, or
  uint16_t* out_bf16 = nullptr;  // (B, T, H hd) out rounded to bf16 (the bf16 linear's input)
  int64_t B = 0, T = 0, P = 0, n_head = 0, n_kv_head = 0, head_dim = 0;
};
// the tasks [begin, end) of B * n_kv_head; each writes only its own rows of k_new, v_new, out
void attend_kv_heads(const AttentionKernelArgs& args, int64_t begin, int64_t end);

// whether the kernel takes a block of T tokens of batch B: head_dim a multiple of 8, the cache
// (if any) in fp32 on the cpu, and the mask undefined or a (B or 1, 1, 1, P + T) fp32 key bias
bool attention_kernel_takes(int64_t B, int64_t T, int64_t head_dim, const LayerKv* past,
                            const torch::Tensor& mask);

// one call's tensors and the args that point into them: qkv (B, T, H + 2 Hkv, hd), the cache's
// k, v (and k_t) made contiguous, the rotary rows, the mask expanded to a (B, P + T) key bias
// (undefined: none), and the outputs k_new, plus v_new and k_t_new when keep_kv (a prefix pass
// keeps them for the cache). the caller points args.out or args.out_bf16 at (B, T, H hd) before
// the tasks run
struct AttentionCall {
  torch::Tensor qkv, past_k, past_v, past_k_t, cos, sin, bias, k_new, v_new, k_t_new;
  AttentionKernelArgs args;
  AttentionCall(const torch::Tensor& qkv, const RotaryTable& rope, const LayerKv* past,
                const torch::Tensor& mask, int64_t n_head, int64_t head_dim, bool keep_kv);
  // the cache entry of this block: k_new, v_new, k_t_new
  LayerKv kv() const;
};

// n rounded up to a multiple of 8 (the score kernel's eight keys a vector)
constexpr int64_t round_up8(int64_t n) {
  return (n + 7) / 8 * 8;
}

// --- model/rms_norm and model/activation: one fp32 row in, fp32 or bf16 out

// y = x / sqrt(mean(x^2) + eps) * w, dim a multiple of 8
void rms_norm_row(const float* x, const float* w, float* y, int64_t dim, float eps);
void rms_norm_row(const float* x, const float* w, uint16_t* y, int64_t dim, float eps);

// --- model/rms_norm under autograd (the decoder layer's training path): one pass a row each way
// on the cpu, the plain ops elsewhere

// norm(x) as the linear after it takes it: bf16 rows under cpu autocast (the cast that the linear
// would make, and its backward, fold into the norm), else norm(x)
torch::Tensor rms_norm_for_linear(RMSNormImpl& norm, const torch::Tensor& x);

// the residual add and the norm after it: sum = x + branch in x's dtype (fp32 or bf16; the
// branch fp32 or bf16), normed = norm(sum) as rms_norm_for_linear gives it
struct NormedSum {
  torch::Tensor sum, normed;
};
NormedSum add_rms_norm(RMSNormImpl& norm, const torch::Tensor& x, const torch::Tensor& branch);

// out = silu(gate) up for a row of 2 hidden values, gate first
void silu_mul_row(const float* gate_up, float* out, int64_t hidden);
void silu_mul_row(const float* gate_up, uint16_t* out, int64_t hidden);

}  // namespace avla
