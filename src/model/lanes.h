// fp32 and bf16 rows behind one vector type: the element-wise kernels (rms norm, swiglu's
// activation) load eight values of either storage as fp32, compute in fp32 and store back
// rounded as c10::BFloat16 rounds, with one code path for both dtypes.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "model/simd.h"

namespace avla {

// eight bf16 values widened to fp32 (a bf16 is the high half of its fp32)
__attribute__((target("avx2,fma"))) inline __m256 load_bf16x8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// eight fp32 values rounded to bf16 as c10::BFloat16 rounds: to nearest even, nan to 0x7fc0
__attribute__((target("avx2,fma"))) inline void store_bf16x8(uint16_t* p, __m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  rounded = _mm256_blendv_epi8(rounded, _mm256_set1_epi32(0x7fc00000), nan);
  const __m256i high = _mm256_srli_epi32(rounded, 16);
  _mm_storeu_si128(
      reinterpret_cast<__m128i*>(p),
      _mm_packus_epi32(_mm256_castsi256_si128(high), _mm256_extracti128_si256(high, 1)));
}

// fp32 or bf16 storage behind one pair of load / store
template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  __attribute__((target("avx2,fma"))) static __m256 load(const float* p) {
    return _mm256_loadu_ps(p);
  }
  __attribute__((target("avx2,fma"))) static void store(float* p, __m256 v) {
    _mm256_storeu_ps(p, v);
  }
};
template <>
struct Lanes<uint16_t> {
  __attribute__((target("avx2,fma"))) static __m256 load(const uint16_t* p) {
    return load_bf16x8(p);
  }
  __attribute__((target("avx2,fma"))) static void store(uint16_t* p, __m256 v) {
    store_bf16x8(p, v);
  }
};

// a tensor's data as the lane type T (float, or uint16_t for bf16)
template <typename T>
T* lanes_ptr(const torch::Tensor& t) {
  return reinterpret_cast<T*>(t.data_ptr());
}

// fn(T{}) with T the lane type of dtype: uint16_t for bf16, float for fp32
template <typename Fn>
void with_lanes(torch::ScalarType dtype, Fn&& fn) {
  if (dtype == torch::kBFloat16) {
    fn(uint16_t{});
  } else {
    fn(float{});
  }
}

}  // namespace avla
