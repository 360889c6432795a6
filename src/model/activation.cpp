#include "model/activation.h"

#include <ATen/Parallel.h>

#include <cstdint>
#include <vector>

#include "model/backend.h"
#include "model/kernels.h"
#include "model/lanes.h"
#include "util/error.h"

namespace avla {

namespace {

// a row's last values, fewer than eight, padded to a vector
template <typename T>
struct Tail {
  alignas(32) T buf[8] = {};
};

// sigmoid(g) for eight values
__attribute__((target("avx2,fma"))) inline __m256 sigmoid8(__m256 g) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp_f32x8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
}

// eight values: o = g sigmoid(g) u; o in the input's storage, or in bf16 for fp32 inputs
template <typename T, typename Out = T>
__attribute__((target("avx2,fma"))) void forward8(const T* g, const T* u, Out* o) {
  const __m256 gv = Lanes<T>::load(g);
  Lanes<Out>::store(o, _mm256_mul_ps(_mm256_mul_ps(gv, sigmoid8(gv)), Lanes<T>::load(u)));
}

// eight values' backward: with s = sigmoid(g), dg = go u s (1 + g (1 - s)), du = go g s
template <typename T>
__attribute__((target("avx2,fma"))) void backward8(const T* g, const T* u, const T* go, T* dg,
                                                   T* du) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 gv = Lanes<T>::load(g), gov = Lanes<T>::load(go);
  const __m256 s = sigmoid8(gv);
  const __m256 ds = _mm256_mul_ps(s, _mm256_fmadd_ps(gv, _mm256_sub_ps(one, s), one));
  Lanes<T>::store(dg, _mm256_mul_ps(_mm256_mul_ps(gov, Lanes<T>::load(u)), ds));
  Lanes<T>::store(du, _mm256_mul_ps(gov, _mm256_mul_ps(gv, s)));
}

// one row of n = hidden outputs (gate = row, up = row + n); a tail shorter than eight goes
// through padded buffers
template <typename T, typename Out = T>
void forward_row(const T* row, Out* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) forward8(row + i, row + n + i, out + i);
  if (i < n) {
    Tail<T> g, u;
    Tail<Out> o;
    std::copy(row + i, row + n, g.buf);
    std::copy(row + n + i, row + 2 * n, u.buf);
    forward8<T, Out>(g.buf, u.buf, o.buf);
    std::copy(o.buf, o.buf + (n - i), out + i);
  }
}

// one row's backward into d_row (2n: d gate, then d up)
template <typename T>
void backward_row(const T* row, const T* grad, T* d_row, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) backward8(row + i, row + n + i, grad + i, d_row + i, d_row + n + i);
  if (i < n) {
    Tail<T> g, u, go, dg, du;
    std::copy(row + i, row + n, g.buf);
    std::copy(row + n + i, row + 2 * n, u.buf);
    std::copy(grad + i, grad + n, go.buf);
    backward8<T>(g.buf, u.buf, go.buf, dg.buf, du.buf);
    std::copy(dg.buf, dg.buf + (n - i), d_row + i);
    std::copy(du.buf, du.buf + (n - i), d_row + n + i);
  }
}

// the rows of gate_up (rows, 2 hidden), 32 rows a task
template <typename Fn>
void for_rows(int64_t rows, const Fn& fn) {
  at::parallel_for(0, rows, 32, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) fn(r);
  });
}

torch::Tensor fused_forward(const torch::Tensor& gate_up_in, int64_t hidden) {
  const torch::Tensor gate_up = gate_up_in.contiguous();
  std::vector<int64_t> sizes = gate_up.sizes().vec();
  sizes.back() = hidden;
  torch::Tensor out = torch::empty(sizes, gate_up.options());
  const int64_t rows = gate_up.numel() / (2 * hidden);
  with_lanes(gate_up.scalar_type(), [&](auto lane) {
    using T = decltype(lane);
    const T* in = lanes_ptr<T>(gate_up);
    T* o = lanes_ptr<T>(out);
    for_rows(rows, [&](int64_t r) { forward_row(in + r * 2 * hidden, o + r * hidden, hidden); });
  });
  return out;
}

torch::Tensor fused_backward(const torch::Tensor& gate_up, const torch::Tensor& grad_in,
                             int64_t hidden) {
  const torch::Tensor grad = grad_in.to(gate_up.scalar_type()).contiguous();
  torch::Tensor d_gate_up = torch::empty_like(gate_up);
  const int64_t rows = gate_up.numel() / (2 * hidden);
  with_lanes(gate_up.scalar_type(), [&](auto lane) {
    using T = decltype(lane);
    const T *in = lanes_ptr<T>(gate_up), *go = lanes_ptr<T>(grad);
    T* d = lanes_ptr<T>(d_gate_up);
    for_rows(rows, [&](int64_t r) {
      backward_row(in + r * 2 * hidden, go + r * hidden, d + r * 2 * hidden, hidden);
    });
  });
  return d_gate_up;
}

struct SiluMulFunction : torch::autograd::Function<SiluMulFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& gate_up,
                               int64_t hidden) {
    const torch::Tensor contiguous = gate_up.contiguous();
    ctx->save_for_backward({contiguous});
    ctx->saved_data["hidden"] = hidden;
    return fused_forward(contiguous, hidden);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const torch::Tensor gate_up = ctx->get_saved_variables()[0];
    const int64_t hidden = ctx->saved_data["hidden"].toInt();
    return {fused_backward(gate_up, grads[0], hidden), torch::Tensor()};
  }
};

}  // namespace

void silu_mul_row(const float* gate_up, float* out, int64_t hidden) {
  forward_row(gate_up, out, hidden);
}

void silu_mul_row(const float* gate_up, uint16_t* out, int64_t hidden) {
  forward_row(gate_up, out, hidden);
}

torch::Tensor silu_mul(const torch::Tensor& gate_up, int64_t hidden) {
  AVLA_CHECK(gate_up.dim() >= 1 && gate_up.size(-1) == 2 * hidden, "swiglu",
             "gate_up has shape {}, expected [..., {}]", c10::str(gate_up.sizes()), 2 * hidden);
  const bool fused =
      (gate_up.scalar_type() == torch::kFloat32 || gate_up.scalar_type() == torch::kBFloat16) &&
      use_cpu_kernels(gate_up);
  if (!fused) {
    return torch::silu(gate_up.narrow(-1, 0, hidden)) * gate_up.narrow(-1, hidden, hidden);
  }
  if (!torch::GradMode::is_enabled() || !gate_up.requires_grad()) {
    return fused_forward(gate_up, hidden);
  }
  return SiluMulFunction::apply(gate_up, hidden);
}

}  // namespace avla
