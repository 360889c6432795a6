#include "model/fused_layer.h"

#include <ATen/Parallel.h>
#include <omp.h>

#include <atomic>

#include "model/autocast.h"
#include "model/backend.h"
#include "model/kernels.h"
#include "model/linear.h"
#include "util/error.h"

namespace avla {

namespace {

std::atomic<bool> g_layer_fusion{true};

// this thread's share [begin, end) of n items among n_threads
struct Share {
  int64_t begin, end;
  Share(int64_t n, int thread, int n_threads)
      : begin(n * thread / n_threads), end(n * (thread + 1) / n_threads) {}
};

// the linear layers' input rows: fp32, or bf16 padded to an even length (every width here is a
// multiple of 8, so no padding happens); one buffer serves every step, each writing its rows at
// its own width once the step before has read them
struct LinearInput {
  torch::Tensor storage;
  bool bf16;
  void* row(int64_t r, int64_t width) const {
    return bf16 ? static_cast<void*>(reinterpret_cast<uint16_t*>(storage.data_ptr()) + r * width)
                : static_cast<void*>(storage.data_ptr<float>() + r * width);
  }
};

void norm_row(const RMSNormImpl& norm, const float* x, const LinearInput& in, int64_t r,
              int64_t dim) {
  const float* w = norm.weight.data_ptr<float>();
  const auto eps = static_cast<float>(norm.eps);
  if (in.bf16) {
    rms_norm_row(x, w, static_cast<uint16_t*>(in.row(r, dim)), dim, eps);
  } else {
    rms_norm_row(x, w, static_cast<float*>(in.row(r, dim)), dim, eps);
  }
}

}  // namespace

void set_layer_fusion(bool on) {
  g_layer_fusion.store(on);
}

bool layer_fusion_on() {
  return g_layer_fusion.load(std::memory_order_relaxed);
}

bool can_fuse_layer(const DecoderLayerImpl& layer, const torch::Tensor& x, const LayerKv* past,
                    const torch::Tensor& mask) {
  if (!layer_fusion_on() || torch::GradMode::is_enabled() || autocast_enabled(c10::kCPU) ||
      x.dim() != 3 || x.scalar_type() != torch::kFloat32 || !use_cpu_kernels(x)) {
    return false;
  }
  const int64_t B = x.size(0), T = x.size(1), dim = x.size(2);
  return attention_kernel_takes(B, T, layer.self_attn->head_dim, past, mask) &&
         B * T <= kSmallLinearMaxRows && dim % 8 == 0 && layer.mlp->hidden % 8 == 0 &&
         layer.input_layernorm->weight.is_cpu();
}

torch::Tensor fused_layer_forward(DecoderLayerImpl& layer, const torch::Tensor& x_in,
                                  const RotaryTable& rope, const LayerKv* past,
                                  const torch::Tensor& mask, LayerKv* kv_out) {
  AVLA_CHECK(can_fuse_layer(layer, x_in, past, mask), "fused_layer",
             "x {} (or its cache or mask) is not one the fused layer takes",
             c10::str(x_in.sizes()));
  AttentionImpl& attn = *layer.self_attn;
  SwiGluImpl& mlp = *layer.mlp;
  const torch::Tensor x = x_in.contiguous();
  const int64_t B = x.size(0), T = x.size(1), dim = x.size(2), M = B * T;
  const int64_t H = attn.n_head, Hkv = attn.n_kv_head, hd = attn.head_dim, ff = mlp.hidden;
  const int64_t n_qkv = (H + 2 * Hkv) * hd;

  // the weights packed at this precision (shared with linear(); made on first use)
  const PackedLinear w_qkv = pack_linear(attn.qkv_proj), w_o = pack_linear(attn.o_proj);
  const PackedLinear w_gate_up = pack_linear(mlp.gate_up_proj), w_down = pack_linear(mlp.down_proj);

  // buffers: the linears' inputs, q/k/v (M, n_qkv), gate/up (M, 2 ff), and the output (B, T, dim)
  // that holds h = x + attention first and then h + mlp
  const int64_t in_width = std::max({dim, H * hd, ff});
  const LinearInput in{torch::empty({M, in_width}, x.options().dtype(w_qkv.bf16 ? torch::kBFloat16
                                                                                : torch::kFloat32)),
                       w_qkv.bf16};
  torch::Tensor qkv = torch::empty({M, n_qkv}, x.options());
  torch::Tensor gate_up = torch::empty({M, 2 * ff}, x.options());
  torch::Tensor out = torch::empty_like(x);

  // the attention's inputs and outputs, as AttentionImpl's fused path takes them
  AttentionCall call(qkv.view({B, T, H + 2 * Hkv, hd}), rope, past, mask, H, hd, kv_out != nullptr);
  if (in.bf16) {
    call.args.out_bf16 = static_cast<uint16_t*>(in.row(0, H * hd));
  } else {
    call.args.out = static_cast<float*>(in.row(0, H * hd));
  }
  const AttentionKernelArgs& a = call.args;

  const float* xp = x.data_ptr<float>();
  float* qkv_p = qkv.data_ptr<float>();
  float* gate_up_p = gate_up.data_ptr<float>();
  float* out_p = out.data_ptr<float>();
  const int n_threads = at::in_parallel_region() ? 1 : at::get_num_threads();
#pragma omp parallel num_threads(n_threads)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    const Share rows(M, t, n);
    // norm(x) -> the q/k/v input (M, dim)
    for (int64_t r = rows.begin; r < rows.end; ++r) {
      norm_row(*layer.input_layernorm, xp + r * dim, in, r, dim);
    }
#pragma omp barrier
    // q/k/v = norm(x) W_qkv^T + b: (M, dim) -> (M, (H + 2 Hkv) hd)
    const Share qkv_panels(w_qkv.n_panel, t, n);
    linear_panels(w_qkv, in.row(0, dim), M, qkv_p, n_qkv, nullptr, qkv_panels.begin,
                  qkv_panels.end);
#pragma omp barrier
    // attention per (batch row, kv head) -> the o input (M, H hd); k, v for the cache
    const Share tasks(B * Hkv, t, n);
    attend_kv_heads(a, tasks.begin, tasks.end);
#pragma omp barrier
    // h = x + attention W_o^T: (M, H hd) -> (M, dim)
    const Share o_panels(w_o.n_panel, t, n);
    linear_panels(w_o, in.row(0, H * hd), M, out_p, dim, xp, o_panels.begin, o_panels.end);
#pragma omp barrier
    // norm(h) -> the gate/up input (M, dim)
    for (int64_t r = rows.begin; r < rows.end; ++r) {
      norm_row(*layer.post_attention_layernorm, out_p + r * dim, in, r, dim);
    }
#pragma omp barrier
    // gate/up = norm(h) W_gu^T: (M, dim) -> (M, 2 ff)
    const Share gu_panels(w_gate_up.n_panel, t, n);
    linear_panels(w_gate_up, in.row(0, dim), M, gate_up_p, 2 * ff, nullptr, gu_panels.begin,
                  gu_panels.end);
#pragma omp barrier
    // silu(gate) up -> the down input (M, ff)
    for (int64_t r = rows.begin; r < rows.end; ++r) {
      if (in.bf16) {
        silu_mul_row(gate_up_p + r * 2 * ff, static_cast<uint16_t*>(in.row(r, ff)), ff);
      } else {
        silu_mul_row(gate_up_p + r * 2 * ff, static_cast<float*>(in.row(r, ff)), ff);
      }
    }
#pragma omp barrier
    // out = h + act W_down^T: (M, ff) -> (M, dim), in place over h
    const Share down_panels(w_down.n_panel, t, n);
    linear_panels(w_down, in.row(0, ff), M, out_p, dim, out_p, down_panels.begin, down_panels.end);
  }
  if (kv_out != nullptr) *kv_out = call.kv();
  return out;
}

}  // namespace avla
