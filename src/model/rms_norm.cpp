#include "model/rms_norm.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

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
// or in bf16 for an fp32 x (the bf16 linear's input, model/fused_layer)
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

// one row's backward, with xh = x inv and g = dy w: dx = inv (g - xh mean(g xh)); dw += dy xh
template <typename T>
__attribute__((target("avx2,fma"))) void backward_row(const T* x, const T* dy, const float* w,
                                                      float inv, T* dx, float* dw, int64_t dim) {
  const __m256 iv = _mm256_set1_ps(inv);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < dim; i += 8) {
    const __m256 xh = _mm256_mul_ps(Lanes<T>::load(x + i), iv);
    const __m256 d = Lanes<T>::load(dy + i);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_loadu_ps(w + i)), xh, acc);
    _mm256_storeu_ps(dw + i, _mm256_fmadd_ps(d, xh, _mm256_loadu_ps(dw + i)));
  }
  const __m256 c = _mm256_set1_ps(hsum8(acc) / static_cast<float>(dim));
  for (int64_t i = 0; i < dim; i += 8) {
    const __m256 xh = _mm256_mul_ps(Lanes<T>::load(x + i), iv);
    const __m256 g = _mm256_mul_ps(Lanes<T>::load(dy + i), _mm256_loadu_ps(w + i));
    Lanes<T>::store(dx + i, _mm256_mul_ps(iv, _mm256_fnmadd_ps(xh, c, g)));
  }
}

// x (rows, dim) contiguous, fp32 or bf16 -> y like x, and each row's inv (rows) in fp32
template <typename T>
void forward_rows(const torch::Tensor& x, const torch::Tensor& w, torch::Tensor& y,
                  torch::Tensor& inv, float eps) {
  const int64_t dim = x.size(-1), rows = x.numel() / dim;
  const T* xp = lanes_ptr<T>(x);
  const float* wp = w.data_ptr<float>();
  T* yp = lanes_ptr<T>(y);
  float* ip = inv.data_ptr<float>();
  at::parallel_for(0, rows, kRowBlock, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      ip[r] = forward_row(xp + r * dim, wp, yp + r * dim, dim, eps);
    }
  });
}

template <typename T>
void backward_rows(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& w,
                   const torch::Tensor& inv, torch::Tensor& dx, torch::Tensor& dw) {
  const int64_t dim = x.size(-1), rows = x.numel() / dim;
  const int64_t n_block = (rows + kRowBlock - 1) / kRowBlock;
  torch::Tensor dw_blocks = torch::zeros({n_block, dim}, w.options());
  const T *xp = lanes_ptr<T>(x), *dyp = lanes_ptr<T>(dy);
  const float *wp = w.data_ptr<float>(), *ip = inv.data_ptr<float>();
  T* dxp = lanes_ptr<T>(dx);
  float* dwp = dw_blocks.data_ptr<float>();
  at::parallel_for(0, n_block, 1, [&](int64_t begin, int64_t end) {
    for (int64_t blk = begin; blk < end; ++blk) {
      for (int64_t r = blk * kRowBlock; r < std::min(rows, (blk + 1) * kRowBlock); ++r) {
        backward_row(xp + r * dim, dyp + r * dim, wp, ip[r], dxp + r * dim, dwp + blk * dim, dim);
      }
    }
  });
  dw = dw_blocks.sum(0);
}

// fp32 or bf16 rows through the typed kernels
torch::Tensor fused_forward(const torch::Tensor& x, const torch::Tensor& w, double eps,
                            torch::Tensor* inv_out) {
  torch::Tensor y = torch::empty_like(x);
  torch::Tensor inv = torch::empty({x.numel() / x.size(-1)}, w.options());
  with_lanes(x.scalar_type(), [&](auto lane) {
    forward_rows<decltype(lane)>(x, w, y, inv, static_cast<float>(eps));
  });
  if (inv_out != nullptr) *inv_out = inv;
  return y;
}

// y = x inv w with its own backward: x fp32 or bf16 (autocast), the weight and its gradient fp32
struct RmsNormFunction : torch::autograd::Function<RmsNormFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, double eps) {
    torch::Tensor inv;
    torch::Tensor y = fused_forward(x, weight, eps, &inv);
    ctx->save_for_backward({x, weight, inv});
    return y;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &w = saved[1], &inv = saved[2];
    const torch::Tensor dy = grads[0].to(x.scalar_type()).contiguous();
    torch::Tensor dx = torch::empty_like(x), dw;
    with_lanes(x.scalar_type(),
               [&](auto lane) { backward_rows<decltype(lane)>(x, dy, w, inv, dx, dw); });
    return {dx, dw, torch::Tensor()};
  }
};

}  // namespace

void rms_norm_row(const float* x, const float* w, float* y, int64_t dim, float eps) {
  forward_row(x, w, y, dim, eps);
}

void rms_norm_row(const float* x, const float* w, uint16_t* y, int64_t dim, float eps) {
  forward_row(x, w, y, dim, eps);
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // our kernels: one pass a row forward and backward, fp32 or bf16 rows, fp32 weight
  if ((x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16) &&
      weight.scalar_type() == torch::kFloat32 && x.size(-1) % 8 == 0 && use_cpu_kernels(x)) {
    const torch::Tensor xc = x.contiguous();
    if (!torch::GradMode::is_enabled() || (!xc.requires_grad() && !weight.requires_grad())) {
      return fused_forward(xc, weight, eps, nullptr);
    }
    return RmsNormFunction::apply(xc, weight, eps);
  }
  // normalize in fp32 whatever the input precision (bf16 under autocast)
  torch::Tensor xf = x.to(torch::kFloat32);
  torch::Tensor inv = torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (xf * inv).to(x.scalar_type()) * weight.to(x.scalar_type());
}

}  // namespace avla
