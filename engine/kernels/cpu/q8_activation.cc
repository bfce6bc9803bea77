// Quantizing activation rows to Q8_0 blocks (the reference Q8_0 quantizer) or Q8_K blocks
// (ggml's quantize_row_q8_K_ref rule, written out here: no weight type uses it).
#include "engine/kernels/cpu/q8_activation.h"

#include <cmath>
#include <cstring>

#include "engine/model/dtype.h"
#include "engine/model/quant_blocks.h"

namespace stocha {
namespace {

// v rounded to the nearest integer, ties to even, for |v| <= 2^22 (here |v| <= 127), the
// rounding of ggml's nearest_int. Adding 1.5·2^23 leaves no fraction bits, so the sum is
// rounded in the default mode (to nearest, ties to even) and the subtraction is exact. Not
// std::nearbyint: without SSE4.1 in the baseline target it is a libm call per element, and
// this runs over every activation of every product.
inline int RoundTiesToEven(float v) {
  constexpr float kShift = 12582912.0f;  // 1.5·2^23
  return static_cast<int>((v + kShift) - kShift);
}

}  // namespace

void ArrangeQ8Halves(const int8_t* q, int64_t n, int8_t* out) {
  for (int64_t g = 0; g < n / 256; ++g) {
    const int8_t* b = q + 256 * g;
    int8_t* o = out + 256 * g;
    for (int i = 0; i < 4; ++i, o += 64) {
      std::memcpy(o, b + 32 * i, 16);
      std::memcpy(o + 16, b + 32 * (i + 4), 16);
      std::memcpy(o + 32, b + 32 * i + 16, 16);
      std::memcpy(o + 48, b + 32 * (i + 4) + 16, 16);
    }
  }
}

void Q8Activations::Quantize(const float* x, int64_t T, int64_t K, DType weights) {
  K_ = K;
  block_ = Q8ActivationBlock(weights);
  const int64_t blocks = T * (K / block_);
  q_.resize(static_cast<size_t>(T * K));
  d_.resize(static_cast<size_t>(blocks));
  if (block_ == kQuantBlock) {
    bsums_.clear();
    QuantizeQ8_0(x, blocks);
    halves_.resize(static_cast<size_t>(T * HalvesPerRow()));
    for (int64_t t = 0; t < T; ++t)
      ArrangeQ8Halves(q_.data() + t * K, K, halves_.data() + t * HalvesPerRow());
  } else {
    s_.clear();
    halves_.clear();
    QuantizeQ8_K(x, blocks);
  }
}

void Q8Activations::QuantizeQ8_0(const float* x, int64_t blocks) {
  s_.resize(static_cast<size_t>(blocks));
  // One block at a time through the weight quantizer: the same rule, one implementation.
  // Its cost (a division-free pass over T·K floats) is small next to the product's N·K
  // weight reads.
  for (int64_t b = 0; b < blocks; ++b) {
    BlockQ8_0 blk;
    QuantizeRow(x + b * kQuantBlock, kQuantBlock, DType::kQ8_0, &blk);
    std::memcpy(q_.data() + b * kQuantBlock, blk.q, sizeof blk.q);
    d_[b] = F16ToF32(blk.d);
    int32_t sum = 0;
    for (int8_t v : blk.q) sum += v;
    s_[b] = sum;
  }
}

void Q8Activations::QuantizeQ8_K(const float* x, int64_t blocks) {
  bsums_.resize(static_cast<size_t>(blocks * (kQK / 16)));
  for (int64_t b = 0; b < blocks; ++b) {
    const float* xb = x + b * kQK;
    int8_t* q = q_.data() + b * kQK;
    // The element of largest magnitude, the first one on ties (a strict > as ggml's loop).
    float m = 0.0f, amax = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      if (std::fabs(xb[j]) > amax) {
        amax = std::fabs(xb[j]);
        m = xb[j];
      }
    }
    if (amax == 0.0f) {
      d_[b] = 0.0f;
      std::memset(q, 0, kQK);
    } else {
      // -127 / m, so m maps to -127 exactly and d may be negative: ggml's choice (its comment
      // in quantize_row_q8_K_ref: it keeps the IQ kernels' products in range).
      const float iscale = -127.0f / m;
      for (int j = 0; j < kQK; ++j) {
        const int v = RoundTiesToEven(iscale * xb[j]);
        q[j] = static_cast<int8_t>(v < 127 ? v : 127);
      }
      d_[b] = 1.0f / iscale;
    }
    for (int g = 0; g < kQK / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += q[16 * g + j];
      bsums_[b * (kQK / 16) + g] = static_cast<int16_t>(sum);  // |sum| <= 16·127
    }
  }
}

}  // namespace stocha
