// Scalar Q8_0 / Q4_0 dequantization and quantization (the references; see the header), and
// the row-level entry points for every block type (K blocks: kquant_blocks.cc).
#include "engine/model/quant_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace stocha {
namespace {

template <typename Block>
Block LoadBlock(const void* row, int64_t b) {
  Block blk;
  std::memcpy(&blk, static_cast<const char*>(row) + b * sizeof(Block), sizeof blk);
  return blk;
}

void QuantizeQ8_0(const float* x, BlockQ8_0* y) {
  float amax = 0.0f;
  for (int j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  y->d = F32ToF16(d);
  for (int j = 0; j < kQuantBlock; ++j) y->q[j] = static_cast<int8_t>(std::round(x[j] * id));
}

void QuantizeQ4_0(const float* x, BlockQ4_0* y) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQuantBlock; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  y->d = F32ToF16(d);
  constexpr int kHalf = kQuantBlock / 2;
  for (int j = 0; j < kHalf; ++j) {
    // x * id lies in [-8, 8]; + 8.5 then truncation is round-half-up, 16 clamps to 15.
    const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
    const int hi = std::min(15, static_cast<int>(x[kHalf + j] * id + 8.5f));
    y->qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

}  // namespace

void DequantizeRow(const void* row, DType dt, int64_t n, float* out) {
  switch (dt) {
    case DType::kQ8_0:
      for (int64_t b = 0; b < n / kQuantBlock; ++b) {
        const BlockQ8_0 blk = LoadBlock<BlockQ8_0>(row, b);
        const float d = F16ToF32(blk.d);
        for (int j = 0; j < kQuantBlock; ++j) out[b * kQuantBlock + j] = d * blk.q[j];
      }
      return;
    case DType::kQ4_0:
      for (int64_t b = 0; b < n / kQuantBlock; ++b) {
        const BlockQ4_0 blk = LoadBlock<BlockQ4_0>(row, b);
        const float d = F16ToF32(blk.d);
        float* o = out + b * kQuantBlock;
        for (int j = 0; j < kQuantBlock / 2; ++j) {
          o[j] = d * static_cast<float>((blk.qs[j] & 15) - 8);
          o[j + kQuantBlock / 2] = d * static_cast<float>((blk.qs[j] >> 4) - 8);
        }
      }
      return;
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      for (int64_t b = 0; b < n / kQK; ++b) {
        DequantizeKBlock(static_cast<const char*>(row) + b * DTypeBlockBytes(dt), dt,
                         out + b * kQK);
      }
      return;
    case DType::kF32:
      std::memcpy(out, row, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, static_cast<const uint16_t*>(row) + i, sizeof h);
        out[i] = dt == DType::kF16 ? F16ToF32(h) : BF16ToF32(h);
      }
      return;
  }
}

void QuantizeRow(const float* x, int64_t n, DType dt, void* out) {
  if (IsKQuant(dt)) {
    for (int64_t b = 0; b < n / kQK; ++b)
      QuantizeKBlock(x + b * kQK, dt, static_cast<char*>(out) + b * DTypeBlockBytes(dt));
    return;
  }
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    if (dt == DType::kQ8_0) {
      BlockQ8_0 blk;
      QuantizeQ8_0(x + b * kQuantBlock, &blk);
      std::memcpy(static_cast<char*>(out) + b * sizeof blk, &blk, sizeof blk);
    } else {
      BlockQ4_0 blk;
      QuantizeQ4_0(x + b * kQuantBlock, &blk);
      std::memcpy(static_cast<char*>(out) + b * sizeof blk, &blk, sizeof blk);
    }
  }
}

}  // namespace stocha
