#include "model/rms_norm.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "model/autocast.h"
#include "model/backend.h"
#include "model/kernels.h"
#include "model/lanes.h"

namespace avla {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

namespace {

// rows per task of the fused kernels; the weight gradient sums per block of rows, then over the
// blocks in order, so it does not depend on the thread count
constexpr int64_t kRowBlock = 64;

// one row: inv = 1 / sqrt(mean(x^2) + eps), y = x inv w (dim a multiple of 8); y in x's storage,
// or in bf16 for an fp32 x (the bf16 linear's input: model/fused_layer, autocast)
template <typename T, typename Out = T>
__attribute__((target("avx2,fma"))) float forward_row(const T* x, const float* w, Out* y,
                                                      int64_t dim, float eps) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < dim; i += 8) {
    const __m256 v = Lanes<T>::load(x + i);
    acc = _mm256_fmadd_ps(v, v, acc);
  }
  const float inv = 1.0f / std::sqrt(hsum8(acc) / static_cast<float>(dim) + eps);
  const __m256 iv = _mm256_set1_ps(inv);
  for (int64_t i = 0; i < dim; i += 8) {
    Lanes<Out>::store(
        y + i, _mm256_mul_ps(_mm256_mul_ps(Lanes<T>::load(x + i), iv), _mm256_loadu_ps(w + i)));
  }
  return inv;
}

// one row of the residual add and the norm after it: h = x + a in x's storage (rounded as the
// plain add rounds), then y = norm(h)
template <typename T, typename A, typename Out>
__attribute__((target("avx2,fma"))) float add_forward_row(const T* x, const A* a, T* h,
                                                          const float* w, Out* y, int64_t dim,
                                                          float eps) {
  for (int64_t i = 0; i < dim; i += 8) {
    Lanes<T>::store(h + i, _mm256_add_ps(Lanes<T>::load(x + i), Lanes<A>::load(a + i)));
  }
  return forward_row(h, w, y, dim, eps);
}

// one row's backward, with xh = x inv and g = dy w: dx = inv (g - xh mean(g xh)) (plus dres, the
// gradient that reaches x by the residual path, where given); dw += dy xh. dx2: the same dx in a
// second storage (the residual branch's gradient in its own dtype), or null
template <typename T, typename D, typename A>
__attribute__((target("avx2,fma"))) void backward_row(const T* x, const D* dy, const float* w,
                                                      float inv, const T* dres, T* dx, A* dx2,
                                                      float* dw, int64_t dim) {
  const __m256 iv = _mm256_set1_ps(inv);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < dim; i += 8) {
    const __m256 xh = _mm256_mul_ps(Lanes<T>::load(x + i), iv);
    const __m256 d = Lanes<D>::load(dy + i);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_loadu_ps(w + i)), xh, acc);
    _mm256_storeu_ps(dw + i, _mm256_fmadd_ps(d, xh, _mm256_loadu_ps(dw + i)));
  }
  const __m256 c = _mm256_set1_ps(hsum8(acc) / static_cast<float>(dim));
  for (int64_t i = 0; i < dim; i += 8) {
    const __m256 xh = _mm256_mul_ps(Lanes<T>::load(x + i), iv);
    const __m256 g = _mm256_mul_ps(Lanes<D>::load(dy + i), _mm256_loadu_ps(w + i));
    __m256 v = _mm256_mul_ps(iv, _mm256_fnmadd_ps(xh, c, g));
    if (dres != nullptr) v = _mm256_add_ps(Lanes<T>::load(dres + i), v);
    Lanes<T>::store(dx + i, v);
    if (dx2 != nullptr) Lanes<A>::store(dx2 + i, v);
  }
}

// what the forward over all rows gives: sum = x + a (like x; undefined without a residual),
// y = norm(sum or x), and each row's inv (rows) in fp32
struct NormRows {
  torch::Tensor sum, y, inv;
};

// the forward over all rows: x (rows, dim) contiguous fp32 or bf16, a (rows, dim) fp32 or bf16
// or undefined (no residual add); y in x's dtype, or bf16 with out_bf16
NormRows forward_rows(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& w,
                      double eps_d, bool out_bf16) {
  const int64_t dim = x.size(-1), rows = x.numel() / dim;
  const float eps = static_cast<float>(eps_d);
  NormRows out;
  if (a.defined()) out.sum = torch::empty_like(x);
  out.y = torch::empty_like(x, out_bf16 ? torch::kBFloat16 : x.scalar_type());
  out.inv = torch::empty({rows}, w.options());
  const torch::Tensor &h = out.sum, &y = out.y;
  const float* wp = w.data_ptr<float>();
  float* ip = out.inv.data_ptr<float>();
  with_lanes(y.scalar_type(), [&](auto out_lane) {
    using Out = decltype(out_lane);
    Out* yp = lanes_ptr<Out>(y);
    with_lanes(x.scalar_type(), [&](auto x_lane) {
      using T = decltype(x_lane);
      const T* xp = lanes_ptr<T>(x);
      if (!a.defined()) {
        at::parallel_for(0, rows, kRowBlock, [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) {
            ip[r] = forward_row(xp + r * dim, wp, yp + r * dim, dim, eps);
          }
        });
        return;
      }
      T* hp = lanes_ptr<T>(h);
      with_lanes(a.scalar_type(), [&](auto a_lane) {
        using A = decltype(a_lane);
        const A* ap = lanes_ptr<A>(a);
        at::parallel_for(0, rows, kRowBlock, [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) {
            const int64_t o = r * dim;
            ip[r] = add_forward_row(xp + o, ap + o, hp + o, wp, yp + o, dim, eps);
          }
        });
      });
    });
  });
  return out;
}

// the backward over all rows: x as normalized (fp32 or bf16), dy (its own dtype), dres the
// residual path's gradient (x's dtype) or undefined; dx in x's dtype, da (the residual branch's
// gradient, its own dtype) or undefined; dw summed per block of rows, then over the blocks
void backward_rows(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& w,
                   const torch::Tensor& inv, const torch::Tensor& dres, torch::Tensor& dx,
                   torch::Tensor& da, torch::Tensor& dw) {
  const int64_t dim = x.size(-1), rows = x.numel() / dim;
  const int64_t n_block = (rows + kRowBlock - 1) / kRowBlock;
  torch::Tensor dw_blocks = torch::zeros({n_block, dim}, w.options());
  const float *wp = w.data_ptr<float>(), *ip = inv.data_ptr<float>();
  float* dwp = dw_blocks.data_ptr<float>();
  with_lanes(x.scalar_type(), [&](auto x_lane) {
    using T = decltype(x_lane);
    with_lanes(dy.scalar_type(), [&](auto dy_lane) {
      using D = decltype(dy_lane);
      with_lanes(da.defined() ? da.scalar_type() : torch::kFloat32, [&](auto a_lane) {
        using A = decltype(a_lane);
        const T* xp = lanes_ptr<T>(x);
        const T* rp = dres.defined() ? lanes_ptr<T>(dres) : nullptr;
        const D* dyp = lanes_ptr<D>(dy);
        T* dxp = lanes_ptr<T>(dx);
        A* dap = da.defined() ? lanes_ptr<A>(da) : nullptr;
        at::parallel_for(0, n_block, 1, [&](int64_t begin, int64_t end) {
          for (int64_t blk = begin; blk < end; ++blk) {
            for (int64_t r = blk * kRowBlock; r < std::min(rows, (blk + 1) * kRowBlock); ++r) {
              const int64_t o = r * dim;
              backward_row(xp + o, dyp + o, wp, ip[r], rp ? rp + o : nullptr, dxp + o,
                           dap ? dap + o : nullptr, dwp + blk * dim, dim);
            }
          }
        });
      });
    });
  });
  dw = dw_blocks.sum(0);
}

// whether autograd has anything to record for these inputs
bool records_grad(const torch::Tensor& x, const torch::Tensor& w) {
  return torch::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad());
}

// y = x inv w with its own backward: x fp32 or bf16 (autocast), y in x's dtype or bf16 (the
// linear's input under autocast), the weight and its gradient fp32
struct RmsNormFunction : torch::autograd::Function<RmsNormFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, double eps, bool out_bf16) {
    NormRows out = forward_rows(x, torch::Tensor(), weight, eps, out_bf16);
    ctx->save_for_backward({x, weight, out.inv});
    return out.y;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &w = saved[1], &inv = saved[2];
    const torch::Tensor dy = grads[0].contiguous();
    torch::Tensor dx = torch::empty_like(x), da, dw;
    backward_rows(x, dy, w, inv, torch::Tensor(), dx, da, dw);
    return {dx, dw, torch::Tensor(), torch::Tensor()};
  }
};

// h = x + a and y = h inv w with one backward: x and h fp32 or bf16 (the action tokens' stream
// under autocast), a fp32 or bf16 (a linear's output under autocast), y like h or bf16. the
// gradient of x is dh plus the norm's; a gets the same in its own dtype
struct AddRmsNormFunction : torch::autograd::Function<AddRmsNormFunction> {
  static torch::autograd::tensor_list forward(torch::autograd::AutogradContext* ctx,
                                              const torch::Tensor& x, const torch::Tensor& a,
                                              const torch::Tensor& weight, double eps,
                                              bool out_bf16) {
    NormRows out = forward_rows(x, a, weight, eps, out_bf16);
    ctx->save_for_backward({out.sum, weight, out.inv});
    ctx->saved_data["a_bf16"] = a.scalar_type() == torch::kBFloat16;
    return {out.sum, out.y};
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &h = saved[0], &w = saved[1], &inv = saved[2];
    torch::Tensor dh =
        grads[0].defined() ? grads[0].to(h.scalar_type()).contiguous() : torch::Tensor();
    torch::Tensor dy = grads[1].defined() ? grads[1].contiguous() : torch::zeros_like(h);
    torch::Tensor dx = torch::empty_like(h), dw;
    torch::Tensor da = torch::empty_like(
        h, ctx->saved_data["a_bf16"].toBool() ? torch::kBFloat16 : torch::kFloat32);
    backward_rows(h, dy, w, inv, dh, dx, da, dw);
    return {dx, da, dw, torch::Tensor(), torch::Tensor()};
  }
};

// whether our kernels take x (and a residual branch a, where defined) for norm's weight
bool norm_kernels_take(const RMSNormImpl& norm, const torch::Tensor& x, const torch::Tensor& a) {
  const auto fp = [](const torch::Tensor& t) {
    return t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kBFloat16;
  };
  if (!fp(x) || norm.weight.scalar_type() != torch::kFloat32 || x.size(-1) % 8 != 0 ||
      !use_cpu_kernels(x))
    return false;
  // the sum keeps x's dtype, as x + a does unless an fp32 a would promote a bf16 x
  const bool promotes =
      x.scalar_type() == torch::kBFloat16 && a.defined() && a.scalar_type() == torch::kFloat32;
  return !a.defined() || (fp(a) && a.sizes() == x.sizes() && !promotes);
}

// the output in bf16: under cpu autocast, where the linear after the norm would round it anyway
bool out_to_bf16(const torch::Tensor& x) {
  return x.is_cpu() && autocast_enabled(c10::kCPU);
}

}  // namespace

void rms_norm_row(const float* x, const float* w, float* y, int64_t dim, float eps) {
  forward_row(x, w, y, dim, eps);
}

void rms_norm_row(const float* x, const float* w, uint16_t* y, int64_t dim, float eps) {
  forward_row(x, w, y, dim, eps);
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // our kernels: one pass a row forward and backward, fp32 or bf16 rows, fp32 weight
  if (norm_kernels_take(*this, x, torch::Tensor())) {
    const torch::Tensor xc = x.contiguous();
    if (!records_grad(xc, weight)) return forward_rows(xc, torch::Tensor(), weight, eps, false).y;
    return RmsNormFunction::apply(xc, weight, eps, false);
  }
  // normalize in fp32 whatever the input precision (bf16 under autocast)
  torch::Tensor xf = x.to(torch::kFloat32);
  torch::Tensor inv = torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (xf * inv).to(x.scalar_type()) * weight.to(x.scalar_type());
}

torch::Tensor rms_norm_for_linear(RMSNormImpl& norm, const torch::Tensor& x) {
  if (!norm_kernels_take(norm, x, torch::Tensor())) return norm.forward(x);
  const torch::Tensor xc = x.contiguous();
  if (!records_grad(xc, norm.weight))
    return forward_rows(xc, torch::Tensor(), norm.weight, norm.eps, out_to_bf16(x)).y;
  return RmsNormFunction::apply(xc, norm.weight, norm.eps, out_to_bf16(x));
}

NormedSum add_rms_norm(RMSNormImpl& norm, const torch::Tensor& x, const torch::Tensor& branch) {
  if (!norm_kernels_take(norm, x, branch)) {
    torch::Tensor sum = x + branch;
    return {sum, norm.forward(sum)};
  }
  const torch::Tensor xc = x.contiguous(), bc = branch.contiguous();
  if (!records_grad(xc, norm.weight) && !records_grad(bc, norm.weight)) {
    // no autograd: the same rows without a graph node
    NormRows out = forward_rows(xc, bc, norm.weight, norm.eps, out_to_bf16(x));
    return {out.sum, out.y};
  }
  const auto outs = AddRmsNormFunction::apply(xc, bc, norm.weight, norm.eps, out_to_bf16(x));
  return {outs[0], outs[1]};
}

}  // namespace avla
