// Q8_0 / Q4_0 row kernels: portable scalar code and AVX2 + FMA + F16C, same bits. The
// AVX2 lanes follow row_kernels_avx2.cc: accumulator lo holds canonical lanes 0-7
// (elements i ≡ 0..7 mod 16), hi lanes 8-15; a 32-element block feeds lo, hi, lo, hi.
// Block layouts: ggml/src/ggml-common.h (block_q8_0, block_q4_0), dequantization as in
// ggml/src/ggml-quants.c (dequantize_row_q8_0, dequantize_row_q4_0).
#include "engine/kernels/cpu/quant_row.h"

#include <cmath>

#include "engine/kernels/cpu/row_isa.h"
#include "engine/kernels/cpu/row_kernels_avx2.h"
#include "engine/model/quant_blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define STOCHA_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace stocha {
namespace {

size_t BlockBytes(DType dt) { return DTypeBytes(dt, kQuantBlock); }

void DotRowsPortable(const float* x, const void* const* rows, int count, DType dt, int64_t n,
                     float* y) {
  const size_t bb = BlockBytes(dt);
  for (int r = 0; r < count; ++r) {
    float acc[16] = {};
    float w[kQuantBlock];
    for (int64_t b = 0; b < n / kQuantBlock; ++b) {
      DequantizeRow(static_cast<const char*>(rows[r]) + b * bb, dt, kQuantBlock, w);
      for (int j = 0; j < kQuantBlock; ++j)
        acc[j % 16] = std::fma(x[b * kQuantBlock + j], w[j], acc[j % 16]);
    }
    for (int s = 8; s > 0; s /= 2) {
      for (int j = 0; j < s; ++j) acc[j] += acc[j + s];
    }
    y[r] = acc[0];
  }
}

void AxpyRowPortable(float h, const void* row, DType dt, int64_t n, float* o) {
  const size_t bb = BlockBytes(dt);
  float w[kQuantBlock];
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    DequantizeRow(static_cast<const char*>(row) + b * bb, dt, kQuantBlock, w);
    for (int j = 0; j < kQuantBlock; ++j)
      o[b * kQuantBlock + j] = std::fma(h, w[j], o[b * kQuantBlock + j]);
  }
}

#if defined(__x86_64__)

// The 32 weights of one block as four vectors of 8 floats (elements 0-7, 8-15, 16-23,
// 24-31), each the exact product scale * integer.
template <DType DT>
STOCHA_AVX2 inline void LoadBlock(const char* p, __m256* w) {
  uint16_t dh;
  __builtin_memcpy(&dh, p, sizeof dh);
  const __m256 d = _mm256_set1_ps(_cvtsh_ss(dh));
  __m128i a, b;  // int8 elements 0-15 and 16-31
  if constexpr (DT == DType::kQ8_0) {
    a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18));
  } else {
    const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i nib = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    a = _mm_sub_epi8(_mm_and_si128(qs, nib), eight);
    b = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), nib), eight);
  }
  w[0] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(a)));
  w[1] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(a, 8))));
  w[2] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)));
  w[3] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8))));
}

// The canonical tree over 16 lanes: (j += j+8), (j += j+4), (j += j+2), (0 += 1).
STOCHA_AVX2 inline float Reduce(__m256 lo, __m256 hi) {
  const __m256 s = _mm256_add_ps(lo, hi);
  __m128 v = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

template <DType DT, int R>
STOCHA_AVX2 void DotRowsAvx2(const float* x, const void* const* rows, int64_t n, float* y) {
  constexpr size_t kBytes = DTypeBytes(DT, kQuantBlock);
  __m256 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* xb = x + b * kQuantBlock;
    const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
    const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
    for (int r = 0; r < R; ++r) {
      __m256 w[4];
      LoadBlock<DT>(static_cast<const char*>(rows[r]) + b * kBytes, w);
      lo[r] = _mm256_fmadd_ps(x0, w[0], lo[r]);
      hi[r] = _mm256_fmadd_ps(x1, w[1], hi[r]);
      lo[r] = _mm256_fmadd_ps(x2, w[2], lo[r]);
      hi[r] = _mm256_fmadd_ps(x3, w[3], hi[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = Reduce(lo[r], hi[r]);
}

template <DType DT>
void DotRowsAvx2(const float* x, const void* const* rows, int count, int64_t n, float* y) {
  switch (count) {
    case 4:
      return DotRowsAvx2<DT, 4>(x, rows, n, y);
    case 3:
      return DotRowsAvx2<DT, 3>(x, rows, n, y);
    case 2:
      return DotRowsAvx2<DT, 2>(x, rows, n, y);
    default:
      return DotRowsAvx2<DT, 1>(x, rows, n, y);
  }
}

template <DType DT>
STOCHA_AVX2 void AxpyRowAvx2(float h, const void* row, int64_t n, float* o) {
  constexpr size_t kBytes = DTypeBytes(DT, kQuantBlock);
  const __m256 hv = _mm256_set1_ps(h);
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    __m256 w[4];
    LoadBlock<DT>(static_cast<const char*>(row) + b * kBytes, w);
    float* ob = o + b * kQuantBlock;
    for (int k = 0; k < 4; ++k) {
      _mm256_storeu_ps(ob + 8 * k, _mm256_fmadd_ps(hv, w[k], _mm256_loadu_ps(ob + 8 * k)));
    }
  }
}

#endif  // __x86_64__

}  // namespace

void QuantDotRows(const float* x, const void* const* rows, int count, DType dt, int64_t n,
                  float* y) {
#if defined(__x86_64__)
  // AVX-512 CPUs run the AVX2 quantized kernels too (no AVX-512 ones yet).
  if (ActiveRowIsa() >= RowIsa::kAvx2) {
    if (dt == DType::kQ8_0) return DotRowsAvx2<DType::kQ8_0>(x, rows, count, n, y);
    return DotRowsAvx2<DType::kQ4_0>(x, rows, count, n, y);
  }
#endif
  DotRowsPortable(x, rows, count, dt, n, y);
}

void QuantAxpyRow(float h, const void* row, DType dt, int64_t n, float* o) {
#if defined(__x86_64__)
  if (ActiveRowIsa() >= RowIsa::kAvx2) {
    if (dt == DType::kQ8_0) return AxpyRowAvx2<DType::kQ8_0>(h, row, n, o);
    return AxpyRowAvx2<DType::kQ4_0>(h, row, n, o);
  }
#endif
  AxpyRowPortable(h, row, dt, n, o);
}

}  // namespace stocha
