// Integer dot products with 8-bit activations: the scalar reference and the dispatch to the AVX2
// and AVX-512 VNNI kernels (int8_dot_avx2.cc, int8_dot_vnni.cc) by row_isa.h's level.
#include "engine/kernels/cpu/int8_dot.h"

#include <cmath>
#include <cstddef>
#include <cstring>

#include "engine/kernels/cpu/int8_dot_x86.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/model/quant_blocks.h"

namespace stocha {
namespace {

// The 32 integers of weight block `p` and its scale (quant_blocks.h layouts).
void WeightBlock(const char* p, DType dt, int* w, float* d) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  *d = F16ToF32(h);
  for (int j = 0; j < kQuantBlock; ++j) {
    if (dt == DType::kQ8_0) {
      const int byte = static_cast<uint8_t>(p[2 + j]);
      w[j] = byte >= 128 ? byte - 256 : byte;  // two's complement int8
    } else {
      const auto byte = static_cast<uint8_t>(p[2 + j % 16]);
      w[j] = (j < 16 ? byte & 15 : byte >> 4) - 8;
    }
  }
}

// The tree (j += j+4), (j += j+2), (0 += 1).
float Tree8(float* acc) {
  for (int s = 4; s > 0; s /= 2) {
    for (int j = 0; j < s; ++j) acc[j] += acc[j + s];
  }
  return acc[0];
}

float DotRowReference(const Q8Row& x, const char* row, DType dt, int64_t n) {
  const int64_t bytes = static_cast<int64_t>(DTypeBlockBytes(dt));
  float acc[8] = {};
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    int w[kQuantBlock];
    float dw = 0.0f;
    WeightBlock(row + b * bytes, dt, w, &dw);
    int32_t isum = 0;
    for (int j = 0; j < kQuantBlock; ++j) isum += w[j] * x.q[b * kQuantBlock + j];
    acc[b % 8] = std::fma(dw * x.d[b], static_cast<float>(isum), acc[b % 8]);
  }
  return Tree8(acc);
}

// Q4_K/Q5_K × Q8_K, int8_dot.h's formula written out: the sub-block scales by KScaleMin, the
// values by element (ggml-common.h block_q4_K / block_q5_K: qs[32c + l] holds element 64c + l
// low, 64c + 32 + l high; Q5_K's fifth bit of element e is bit e / 32 of qh[e % 32]).
float DotRowKReference(const Q8Row& x, const char* row, DType dt, int64_t n) {
  const bool q5 = dt == DType::kQ5_K;
  const int64_t bytes = static_cast<int64_t>(DTypeBlockBytes(dt));
  const size_t qs_at = q5 ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
  float acc[8] = {};
  for (int64_t b = 0; b < n / kQK; ++b) {
    const auto* blk = reinterpret_cast<const uint8_t*>(row + b * bytes);
    const uint8_t* qs = blk + qs_at;
    const uint8_t* qh = blk + offsetof(BlockQ5_K, qh);
    const uint8_t* scales = blk + offsetof(BlockQ4_K, scales);  // the same in both
    const int8_t* q = x.q + b * kQK;
    const int16_t* bsums = x.bsums + b * (kQK / 16);
    int32_t psum[8] = {}, msum[8] = {};  // int8_dot.h's P and M
    for (int j = 0; j < 8; ++j) {
      int sc = 0, m = 0;
      KScaleMin(j, scales, &sc, &m);
      for (int i = 0; i < 32; ++i) {
        const int e = 32 * j + i;  // in byte 32(e / 64) + e % 32, high nibble if e % 64 >= 32
        const uint8_t byte = qs[32 * (e / 64) + e % 32];
        int u = e % 64 < 32 ? byte & 15 : byte >> 4;
        if (q5) u |= ((qh[e % 32] >> (e / 32)) & 1) << 4;
        psum[i / 4] += sc * u * q[e];
      }
      msum[j] = m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
    uint16_t d = 0, dmin = 0;
    std::memcpy(&d, blk, sizeof d);
    std::memcpy(&dmin, blk + 2, sizeof dmin);
    const float a = F16ToF32(d) * x.d[b], c = F16ToF32(dmin) * x.d[b];
    for (int l = 0; l < 8; ++l) {
      acc[l] = std::fma(a, static_cast<float>(psum[l]), acc[l]);
      acc[l] = std::fma(-c, static_cast<float>(msum[l]), acc[l]);
    }
  }
  return Tree8(acc);
}

// Q6_K × Q8_K, int8_dot.h's formula written out (ggml-common.h block_q6_K: element e = 128h +
// 32k + l has the low 4 bits in nibble k / 2 of ql[64h + 32(k % 2) + l], the high 2 in bits
// 2k, 2k + 1 of qh[32h + l], and the int8 scale of its 16, scales[e / 16]).
float DotRowQ6KReference(const Q8Row& x, const char* row, int64_t n) {
  float acc[8] = {};
  for (int64_t b = 0; b < n / kQK; ++b) {
    BlockQ6_K blk;
    std::memcpy(&blk, row + b * static_cast<int64_t>(sizeof blk), sizeof blk);
    const int8_t* q = x.q + b * kQK;
    int32_t psum[8] = {};  // int8_dot.h's P
    for (int e = 0; e < kQK; ++e) {
      const int h = e / 128, k = e % 128 / 32, l = e % 32;
      const int low = (blk.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
      const int high = (blk.qh[32 * h + l] >> (2 * k)) & 3;
      psum[l / 4] += blk.scales[e / 16] * ((low | high << 4) - 32) * q[e];
    }
    const float a = F16ToF32(blk.d) * x.d[b];
    for (int j = 0; j < 8; ++j) acc[j] = std::fma(a, static_cast<float>(psum[j]), acc[j]);
  }
  return Tree8(acc);
}

enum class Level { kPortable, kAvx2, kVnni };

Level ActiveLevel() {
  const RowIsa isa = ActiveRowIsa();
  if (isa >= RowIsa::kAvx512 && Int8VnniSupported()) return Level::kVnni;
  return isa >= RowIsa::kAvx2 ? Level::kAvx2 : Level::kPortable;
}

}  // namespace

bool Int8VnniSupported() {
#if defined(__x86_64__)
  // The avx512 row level checks F/BW/VL and the OS's saved registers; VNNI is one bit more.
  static const bool supported =
      BestRowIsa() >= RowIsa::kAvx512 && __builtin_cpu_supports("avx512vnni");
  return supported;
#else
  return false;
#endif
}

std::string_view Int8DotLevel() {
  switch (ActiveLevel()) {
    case Level::kVnni:
      return "vnni";
    case Level::kAvx2:
      return "avx2";
    default:
      return "portable";
  }
}

void Int8DotRows(const Q8Row& x, const void* const* rows, int count, DType dt, int64_t n, float* y,
                 const void* after) {
  switch (ActiveLevel()) {
#if defined(__x86_64__)
    case Level::kVnni:
      return int8_x86::Int8DotRowsVnni(x, rows, count, dt, n, y, after);
    case Level::kAvx2:
      return int8_x86::Int8DotRowsAvx2(x, rows, count, dt, n, y, after);
#else
    (void)after;
#endif
    default:
      Int8DotRowsReference(x, rows, count, dt, n, y);
  }
}

void Int8DotRowsReference(const Q8Row& x, const void* const* rows, int count, DType dt, int64_t n,
                          float* y) {
  for (int r = 0; r < count; ++r) {
    const char* p = static_cast<const char*>(rows[r]);
    if (dt == DType::kQ6_K) {
      y[r] = DotRowQ6KReference(x, p, n);
    } else {
      y[r] = IsKQuant(dt) ? DotRowKReference(x, p, dt, n) : DotRowReference(x, p, dt, n);
    }
  }
}

}  // namespace stocha
