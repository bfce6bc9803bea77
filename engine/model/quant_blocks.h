// ggml's Q8_0 and Q4_0 weight blocks: layouts, exact dequantization, and the reference
// round-to-nearest quantizers (what `llama-quantize` writes for these types).
//
// Layouts as ggml defines them (ggml/src/ggml-common.h: block_q8_0, block_q4_0; GGUF type
// ids 8 and 2 in ggml/include/ggml.h), 32 elements per block, little-endian:
//   Q8_0 (34 bytes): F16 scale d, then int8 q[32];            x[j] = d * q[j]
//   Q4_0 (18 bytes): F16 scale d, then uint8 qs[16];          x[j]      = d * ((qs[j] & 15) - 8)
//                                                             x[j + 16] = d * ((qs[j] >> 4) - 8)
// (ggml/src/ggml-quants.c: dequantize_row_q8_0, dequantize_row_q4_0). The products are
// exact in F32 (an 11-bit scale times an integer of at most 8 bits), so "dequantize, then
// compute in F32" has one meaning, and every kernel here reproduces it bit for bit.
#ifndef STOCHA_ENGINE_MODEL_QUANT_BLOCKS_H_
#define STOCHA_ENGINE_MODEL_QUANT_BLOCKS_H_

#include <cstdint>

#include "engine/model/dtype.h"

namespace stocha {

inline constexpr int kQuantBlock = 32;

struct BlockQ8_0 {
  uint16_t d;  // F16 scale
  int8_t q[kQuantBlock];
};
static_assert(sizeof(BlockQ8_0) == 34, "ggml block_q8_0 is 34 bytes");

struct BlockQ4_0 {
  uint16_t d;                   // F16 scale
  uint8_t qs[kQuantBlock / 2];  // element j in the low nibble of qs[j], j + 16 in the high
};
static_assert(sizeof(BlockQ4_0) == 18, "ggml block_q4_0 is 18 bytes");

// out[0..n) = the n elements of a Q8_0 or Q4_0 row (n a multiple of 32); for F32/F16/BF16
// rows, their values. Exact. The reference every quantized kernel is tested against.
void DequantizeRow(const void* row, DType dt, int64_t n, float* out);

// ggml's reference quantizers (ggml/src/ggml-quants.c: quantize_row_q8_0_ref,
// quantize_row_q4_0_ref), n a multiple of 32, `out` has DTypeBytes(dt, n) bytes:
//   Q8_0: d = max|x| / 127, q = round(x / d) (half away from zero), d stored as F16.
//   Q4_0: m = the element of largest magnitude (first on ties), d = m / -8,
//         q = min(15, trunc(x / d + 8.5)), d stored as F16.
// Both multiply by 1/d computed from the unrounded F32 d, as ggml does.
void QuantizeRow(const float* x, int64_t n, DType dt, void* out);

}  // namespace stocha

#endif  // STOCHA_ENGINE_MODEL_QUANT_BLOCKS_H_
