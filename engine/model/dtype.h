// Element types of stored weights and the scalar conversions between them.
#ifndef STOCHA_ENGINE_MODEL_DTYPE_H_
#define STOCHA_ENGINE_MODEL_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace stocha {

// Weights stay in their stored dtype unless a load option converts them;
// compute always accumulates in F32. kQ8_0 and kQ4_0 are ggml's 32-element block types
// (one F16 scale each); kQ4_K, kQ5_K and kQ6_K its 256-element "K" super-blocks (what
// llama.cpp's Q4_K_M / Q5_K_M files hold). Layouts in engine/model/quant_blocks.h; a row of
// a block-typed matrix has a multiple of DTypeBlockSize elements.
enum class DType : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K, kQ5_K, kQ6_K };

constexpr bool IsKQuant(DType t) {
  return t == DType::kQ4_K || t == DType::kQ5_K || t == DType::kQ6_K;
}

constexpr bool IsQuantized(DType t) {
  return t == DType::kQ8_0 || t == DType::kQ4_0 || IsKQuant(t);
}

// Elements per block: 32 for Q8_0/Q4_0, 256 for the K types, 1 otherwise.
constexpr int64_t DTypeBlockSize(DType t) { return IsKQuant(t) ? 256 : IsQuantized(t) ? 32 : 1; }

// Bytes per block of a block type (ggml/src/ggml-common.h: block_q8_0 34, block_q4_0 18,
// block_q4_K 144, block_q5_K 176, block_q6_K 210); 0 otherwise.
constexpr size_t DTypeBlockBytes(DType t) {
  switch (t) {
    case DType::kQ8_0:
      return 34;
    case DType::kQ4_0:
      return 18;
    case DType::kQ4_K:
      return 144;
    case DType::kQ5_K:
      return 176;
    case DType::kQ6_K:
      return 210;
    default:
      return 0;
  }
}

// Bytes per element of F32/F16/BF16; 0 for the block types (use DTypeBytes).
constexpr size_t DTypeSize(DType t) {
  return t == DType::kF32 ? 4 : (t == DType::kF16 || t == DType::kBF16) ? 2 : 0;
}

// Bytes of `n` elements (for the block types n must be a multiple of DTypeBlockSize): per
// weight, Q8_0 8.5 bits, Q4_0 4.5, Q4_K 4.5, Q5_K 5.5, Q6_K 6.5625.
constexpr size_t DTypeBytes(DType t, int64_t n) {
  if (IsQuantized(t)) return static_cast<size_t>(n / DTypeBlockSize(t)) * DTypeBlockBytes(t);
  return static_cast<size_t>(n) * DTypeSize(t);
}

std::string_view DTypeName(DType t);

inline float BF16ToF32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round to nearest even; NaN stays NaN (quiet).
inline uint16_t F32ToBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// IEEE half to float, exact for every input including subnormals, inf and NaN.
float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);

}  // namespace stocha

#endif  // STOCHA_ENGINE_MODEL_DTYPE_H_
