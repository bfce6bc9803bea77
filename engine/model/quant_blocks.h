// ggml's weight blocks (Q8_0, Q4_0 and the K types Q4_K, Q5_K, Q6_K): layouts, exact
// dequantization, and quantizers after ggml's reference ones (see QuantizeRow).
//
// Layouts as ggml defines them (ggml/src/ggml-common.h: block_q8_0, block_q4_0; GGUF type
// ids 8 and 2 in ggml/include/ggml.h), 32 elements per block, little-endian:
//   Q8_0 (34 bytes): F16 scale d, then int8 q[32];            x[j] = d * q[j]
//   Q4_0 (18 bytes): F16 scale d, then uint8 qs[16];          x[j]      = d * ((qs[j] & 15) - 8)
//                                                             x[j + 16] = d * ((qs[j] >> 4) - 8)
// (ggml/src/ggml-quants.c: dequantize_row_q8_0, dequantize_row_q4_0). The products are
// exact in F32 (an 11-bit scale times an integer of at most 8 bits), so "dequantize, then
// compute in F32" has one meaning, and every kernel here reproduces it bit for bit.
//
// The K types (ggml-common.h: block_q4_K, block_q5_K, block_q6_K; GGUF type ids 12, 13,
// 14) are 256-element super-blocks; their dequantization (ggml-quants.c:
// dequantize_row_q4_K, dequantize_row_q5_K, dequantize_row_q6_K) is, per element:
//   Q4_K / Q5_K: sub-block j (32 elements) has 6-bit scale sc and min m (KScaleMin);
//                d1 = d * sc, m1 = dmin * m, x = d1 * q - m1   (q 4 bits, Q5_K: 5 bits)
//   Q6_K:        sub-block j (16 elements) has an int8 scale sc; x = d * sc * q
//                (q = 6 bits - 32, in [-32, 31]), evaluated left to right
// Every product there is exact in F32 (11-bit d times integers of at most 6 + 5 bits, or
// 8 + 6 bits for Q6_K: at most 24 significant bits, far above F32's subnormals), so Q6_K
// values are exact; Q4_K/Q5_K round once, in the subtraction of m1. A fused d1 * q - m1
// would give the same bits (its product is exact), so neither the compiler contracting
// (stocha_core builds with -ffp-contract=off anyway) nor a kernel's fmsub can change them.
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

inline constexpr int kQK = 256;          // elements per K super-block (ggml's QK_K)
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales and mins (ggml's K_SCALE_SIZE)

struct BlockQ4_K {
  uint16_t d;                    // F16 super-block scale of the sub-block scales
  uint16_t dmin;                 // F16 super-block scale of the sub-block mins
  uint8_t scales[kKScaleBytes];  // 8 scales and 8 mins, 6 bits each (KScaleMin)
  uint8_t qs[kQK / 2];           // 64-element chunk c: qs[32c + l] holds element 64c + l
};                               // in its low nibble, 64c + 32 + l in its high nibble
static_assert(sizeof(BlockQ4_K) == 144, "ggml block_q4_K is 144 bytes");

struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK / 8];  // bit 2c of qh[l]: 5th bit of element 64c + l; bit 2c+1: 64c + 32 + l
  uint8_t qs[kQK / 2];  // low 4 bits, as Q4_K's qs
};
static_assert(sizeof(BlockQ5_K) == 176, "ggml block_q5_K is 176 bytes");

struct BlockQ6_K {
  uint8_t ql[kQK / 2];      // low 4 bits (layout in DequantizeQ6_K)
  uint8_t qh[kQK / 4];      // high 2 bits
  int8_t scales[kQK / 16];  // one per 16 elements
  uint16_t d;               // F16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210, "ggml block_q6_K is 210 bytes");

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block (ggml-quants.c:
// get_scale_min_k4): j < 4 in the low 6 bits of bytes j and j + 4; j >= 4 in the nibbles of
// byte j + 4, with their top 2 bits in the top bits of bytes j - 4 and j.
inline void KScaleMin(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// The 256 values of one K block at `block` (unaligned bytes of type dt, a K type).
void DequantizeKBlock(const void* block, DType dt, float* out);

// out[0..n) = the n elements of a block-typed row (n a multiple of DTypeBlockSize); for
// F32/F16/BF16 rows, their values. Exact. The reference every quantized kernel is tested
// against.
void DequantizeRow(const void* row, DType dt, int64_t n, float* out);

// ggml's reference quantizers (ggml/src/ggml-quants.c: quantize_row_q8_0_ref,
// quantize_row_q4_0_ref), n a multiple of 32, `out` has DTypeBytes(dt, n) bytes:
//   Q8_0: d = max|x| / 127, q = round(x / d) (half away from zero), d stored as F16.
//   Q4_0: m = the element of largest magnitude (first on ties), d = m / -8,
//         q = min(15, trunc(x / d + 8.5)), d stored as F16.
// Both multiply by 1/d computed from the unrounded F32 d, as ggml does.
// The K types (n a multiple of 256) follow ggml's quantize_row_q4_K_ref / _q5_K_ref /
// _q6_K_ref: each sub-block's scale (and min) is searched to minimize a weighted squared
// error (make_qkx2_quants, weights rms + |x|; Q6_K: make_qx_quants, weights x^2), the
// sub-scales are rounded to 6 bits (int8 for Q6_K) against the super-block's largest, and
// each q is the nearest level under the rounded scales. Written from ggml's description,
// not compared byte for byte with llama-quantize (no llama.cpp here); one known byte
// difference: where a rounded sub-scale is 0 the q bytes are 0 (ggml keeps the search's),
// which decodes to the same values.
void QuantizeRow(const float* x, int64_t n, DType dt, void* out);

// One K block of 256 values, as QuantizeRow does it; `out` has DTypeBlockBytes(dt) bytes.
void QuantizeKBlock(const float* x, DType dt, void* out);

}  // namespace stocha

#endif  // STOCHA_ENGINE_MODEL_QUANT_BLOCKS_H_
