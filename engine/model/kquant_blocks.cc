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

// The scale and min of one 32-element Q4_K/Q5_K sub-block, as ggml-quants.c's
// make_qkx2_quants chooses them (called from quantize_row_q4_K_ref with rmin -1, rdelta
// 0.1, 20 steps; from quantize_row_q5_K_ref with -0.5, 0.1, 15): weights w = rms + |x|;
// start from the range [min(0, min x), max x] spread over nmax steps, then try
// nstep + 1 other step counts (nmax + rmin + rdelta * is), each with the weighted
// least-squares scale and min for its levels (min clamped to <= 0), keeping the lowest
// weighted squared error. Returns the scale; *neg_min = -min >= 0.
float SubBlockScaleMin(const float* x, int nmax, float rmin, float rdelta, int nstep,
                       float* neg_min) {
  constexpr int kN = 32;
  float sum_x2 = 0.0f;
  for (int i = 0; i < kN; ++i) sum_x2 += x[i] * x[i];
  const float rms = std::sqrt(sum_x2 / kN);
  float w[kN];
  for (int i = 0; i < kN; ++i) w[i] = rms + std::fabs(x[i]);
  float lo = x[0], hi = x[0], sum_w = w[0], sum_x = w[0] * x[0];
  for (int i = 1; i < kN; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  lo = std::min(lo, 0.0f);
  if (hi == lo) {
    *neg_min = -lo;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (hi - lo);
  float scale = 1.0f / iscale, min = lo;
  float best = 0.0f;
  for (int i = 0; i < kN; ++i) {
    const int l = std::clamp(Nearest(iscale * (x[i] - lo)), 0, nmax);
    const float diff = scale * static_cast<float>(l) + lo - x[i];
    best += w[i] * diff * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (hi - lo);
    int levels[kN];
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < kN; ++i) {
      const int l = std::clamp(Nearest(iscale * (x[i] - lo)), 0, nmax);
      levels[i] = l;
      const auto lf = static_cast<float>(l);
      sum_l += w[i] * lf;
      sum_l2 += w[i] * lf * lf;
      sum_xl += w[i] * lf * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0.0f)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0.0f) {
      this_min = 0.0f;
      this_scale = sum_xl / sum_l2;
    }
    float err = 0.0f;
    for (int i = 0; i < kN; ++i) {
      const float diff = this_scale * static_cast<float>(levels[i]) + this_min - x[i];
      err += w[i] * diff * diff;
    }
    if (err < best) {
      best = err;
      scale = this_scale;
      min = this_min;
    }
  }
  *neg_min = -min;
  return scale;
}

// Q4_K / Q5_K quantization (header): L[i] in [0, nmax].
void QuantizeQ45_K(const float* x, int nmax, uint16_t* dh, uint16_t* dminh, uint8_t* scales,
                   int* L) {
  const bool q4 = nmax == 15;
  float scale[8], min[8], max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    scale[j] = SubBlockScaleMin(x + 32 * j, nmax, q4 ? -1.0f : -0.5f, 0.1f, q4 ? 20 : 15, &min[j]);
    max_scale = std::max(max_scale, scale[j]);
    max_min = std::max(max_min, min[j]);
  }
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  int ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = std::clamp(Nearest(inv_scale * scale[j]), 0, 63);
    lm[j] = std::clamp(Nearest(inv_min * min[j]), 0, 63);
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

// The scale of one 16-element Q6_K sub-block, as ggml-quants.c's make_qx_quants with
// rmse_type 1 (quantize_row_q6_K_ref): levels in [-32, 31]; start from the element of
// largest magnitude at -32, then try 18 nearby step counts (32 + 0.1 is, is = -9..9),
// keeping the one whose x^2-weighted least-squares scale fits best.
float SubBlockScaleQ6(const float* x) {
  constexpr int kN = 16, kNmax = 32;
  float amax = 0.0f, max = 0.0f;  // the element of largest magnitude, first on ties
  for (int i = 0; i < kN; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < 1e-30f) return 0.0f;
  const auto fit = [&](float iscale, float* sumlx, float* suml2) {
    *sumlx = *suml2 = 0.0f;
    for (int i = 0; i < kN; ++i) {
      const auto l = static_cast<float>(std::clamp(Nearest(iscale * x[i]), -kNmax, kNmax - 1));
      const float w = x[i] * x[i];
      *sumlx += w * x[i] * l;
      *suml2 += w * l * l;
    }
  };
  float sumlx = 0.0f, suml2 = 0.0f;
  fit(-static_cast<float>(kNmax) / max, &sumlx, &suml2);
  float scale = sumlx / suml2, best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    fit(-(static_cast<float>(kNmax) + 0.1f * static_cast<float>(is)) / max, &sumlx, &suml2);
    if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
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
    scale[ib] = SubBlockScaleQ6(x + 16 * ib);
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
