// Scalar Q4_K / Q5_K / Q6_K dequantization and quantization (the references; see
// quant_blocks.h). Layouts: ggml/src/ggml-common.h (block_q4_K, block_q5_K, block_q6_K);
// dequantization as ggml/src/ggml-quants.c (dequantize_row_q4_K, _q5_K, _q6_K) computes it.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/model/quant_blocks.h"

namespace stocha {
namespace {

// ggml's nearest_int: round half to even (the default rounding mode).
int Nearest(float x) { return static_cast<int>(std::nearbyint(x)); }

// Q4_K (bits 4) and Q5_K (bits 5): 8 sub-blocks of 32, each d1 * q - m1. `high` is Q5_K's
// qh (nullptr for Q4_K). The product is exact, the subtraction rounds once (header).
void DequantizeQ45_K(uint16_t dh, uint16_t dminh, const uint8_t* scales, const uint8_t* qh,
                     const uint8_t* qs, float* out) {
  const float d = F16ToF32(dh), dmin = F16ToF32(dminh);
  for (int c = 0; c < 4; ++c) {  // 64-element chunks: low nibbles, then high nibbles
    for (int half = 0; half < 2; ++half) {
      const int j = 2 * c + half;
      int sc = 0, m = 0;
      KScaleMin(j, scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        int q = half == 0 ? qs[32 * c + l] & 0xF : qs[32 * c + l] >> 4;
        if (qh != nullptr && ((qh[l] >> j) & 1) != 0) q += 16;
        const float p = d1 * static_cast<float>(q);  // exact
        out[32 * j + l] = p - m1;
      }
    }
  }
}

// Q6_K: two 128-element halves; in half n, byte l < 32 of ql/qh feeds elements l, l + 32,
// l + 64, l + 96 (low nibble of ql[l], of ql[l + 32], high nibble of ql[l], of ql[l + 32],
// with 2-bit pairs 0, 1, 2, 3 of qh[l] on top); scale index 8n + l / 16 + 2k for group k.
void DequantizeQ6_K(const BlockQ6_K& b, float* out) {
  const float d = F16ToF32(b.d);
  for (int n = 0; n < 2; ++n) {
    const uint8_t* ql = b.ql + 64 * n;
    const uint8_t* qh = b.qh + 32 * n;
    const int8_t* sc = b.scales + 8 * n;
    float* y = out + 128 * n;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q[4] = {((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32,
                        ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32,
                        ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32,
                        ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32};
      for (int k = 0; k < 4; ++k) {
        // (d * sc) * q, both products exact.
        y[l + 32 * k] = d * static_cast<float>(sc[is + 2 * k]) * static_cast<float>(q[k]);
      }
    }
  }
}

// Packs 6-bit scales ls[8] and mins lm[8] as KScaleMin reads them.
void PackScales(const int* ls, const int* lm, uint8_t* scales) {
  std::memset(scales, 0, kKScaleBytes);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] |= static_cast<uint8_t>(ls[j]);
      scales[j + 4] |= static_cast<uint8_t>(lm[j]);
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Q4_K / Q5_K quantization (header): L[i] in [0, nmax].
void QuantizeQ45_K(const float* x, int nmax, uint16_t* dh, uint16_t* dminh, uint8_t* scales,
                   int* L) {
  float scale[8], min[8], max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    float lo = 0.0f, hi = x[32 * j];
    for (int l = 0; l < 32; ++l) {
      lo = std::min(lo, x[32 * j + l]);
      hi = std::max(hi, x[32 * j + l]);
    }
    scale[j] = std::max(0.0f, hi - lo) / static_cast<float>(nmax);
    min[j] = -lo;
    max_scale = std::max(max_scale, scale[j]);
    max_min = std::max(max_min, min[j]);
  }
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  int ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = std::min(63, Nearest(inv_scale * scale[j]));
    lm[j] = std::min(63, Nearest(inv_min * min[j]));
  }
  PackScales(ls, lm, scales);
  *dh = F32ToF16(max_scale / 63.0f);
  *dminh = F32ToF16(max_min / 63.0f);
  const float d = F16ToF32(*dh), dmin = F16ToF32(*dminh);
  for (int j = 0; j < 8; ++j) {
    const float d1 = d * static_cast<float>(ls[j]), m1 = dmin * static_cast<float>(lm[j]);
    for (int l = 0; l < 32; ++l) {
      const int q = d1 == 0.0f ? 0 : Nearest((x[32 * j + l] + m1) / d1);
      L[32 * j + l] = std::clamp(q, 0, nmax);
    }
  }
}

void QuantizeQ4_K(const float* x, BlockQ4_K* b) {
  int L[kQK];
  QuantizeQ45_K(x, 15, &b->d, &b->dmin, b->scales, L);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l)
      b->qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
}

void QuantizeQ5_K(const float* x, BlockQ5_K* b) {
  int L[kQK];
  QuantizeQ45_K(x, 31, &b->d, &b->dmin, b->scales, L);
  std::memset(b->qh, 0, sizeof b->qh);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
      b->qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      b->qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
    }
  }
}

void QuantizeQ6_K(const float* x, BlockQ6_K* b) {
  float scale[16], max_scale = 0.0f;
  for (int ib = 0; ib < 16; ++ib) {
    float amax = 0.0f, max = 0.0f;  // the element of largest magnitude, first on ties
    for (int l = 0; l < 16; ++l) {
      if (std::fabs(x[16 * ib + l]) > amax) {
        amax = std::fabs(x[16 * ib + l]);
        max = x[16 * ib + l];
      }
    }
    scale[ib] = max / -32.0f;
    if (std::fabs(scale[ib]) > std::fabs(max_scale)) max_scale = scale[ib];
  }
  std::memset(b, 0, sizeof *b);
  const float iscale = max_scale != 0.0f ? -128.0f / max_scale : 0.0f;
  b->d = F32ToF16(max_scale != 0.0f ? 1.0f / iscale : 0.0f);
  const float d = F16ToF32(b->d);
  int L[kQK];
  for (int ib = 0; ib < 16; ++ib) {
    const int sc = std::clamp(Nearest(iscale * scale[ib]), -128, 127);
    b->scales[ib] = static_cast<int8_t>(sc);
    const float dd = d * static_cast<float>(sc);
    for (int l = 0; l < 16; ++l) {
      const int q = dd == 0.0f ? 0 : Nearest(x[16 * ib + l] / dd);
      L[16 * ib + l] = std::clamp(q, -32, 31) + 32;
    }
  }
  for (int n = 0; n < 2; ++n) {
    for (int l = 0; l < 32; ++l) {
      const int* q = L + 128 * n + l;
      b->ql[64 * n + l] = static_cast<uint8_t>((q[0] & 0xF) | ((q[64] & 0xF) << 4));
      b->ql[64 * n + l + 32] = static_cast<uint8_t>((q[32] & 0xF) | ((q[96] & 0xF) << 4));
      b->qh[32 * n + l] = static_cast<uint8_t>((q[0] >> 4) | ((q[32] >> 4) << 2) |
                                               ((q[64] >> 4) << 4) | ((q[96] >> 4) << 6));
    }
  }
}

}  // namespace

void DequantizeKBlock(const void* block, DType dt, float* out) {
  switch (dt) {
    case DType::kQ4_K: {
      BlockQ4_K b;
      std::memcpy(&b, block, sizeof b);
      return DequantizeQ45_K(b.d, b.dmin, b.scales, nullptr, b.qs, out);
    }
    case DType::kQ5_K: {
      BlockQ5_K b;
      std::memcpy(&b, block, sizeof b);
      return DequantizeQ45_K(b.d, b.dmin, b.scales, b.qh, b.qs, out);
    }
    default: {
      BlockQ6_K b;
      std::memcpy(&b, block, sizeof b);
      return DequantizeQ6_K(b, out);
    }
  }
}

void QuantizeKBlock(const float* x, DType dt, void* out) {
  switch (dt) {
    case DType::kQ4_K: {
      BlockQ4_K b;
      QuantizeQ4_K(x, &b);
      std::memcpy(out, &b, sizeof b);
      return;
    }
    case DType::kQ5_K: {
      BlockQ5_K b;
      QuantizeQ5_K(x, &b);
      std::memcpy(out, &b, sizeof b);
      return;
    }
    default: {
      BlockQ6_K b;
      QuantizeQ6_K(x, &b);
      std::memcpy(out, &b, sizeof b);
      return;
    }
  }
}

}  // namespace stocha
