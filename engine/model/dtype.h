// Element types of stored weights and the scalar conversions between them.
#ifndef STOCHA_ENGINE_MODEL_DTYPE_H_
#define STOCHA_ENGINE_MODEL_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace stocha {

// Weights stay in their stored dtype unless a load option converts them;
// compute always accumulates in F32. kQ8_0 and kQ4_0 are ggml's block types (32 elements
// per block, one F16 scale each; layouts in engine/kernels/cpu/quant_blocks.h): a row of a
// block-typed matrix has a multiple of 32 elements.
enum class DType : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0 };

constexpr bool IsQuantized(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }

// Elements per block: 32 for the block types, 1 otherwise.
constexpr int64_t DTypeBlockSize(DType t) { return IsQuantized(t) ? 32 : 1; }

// Bytes per element of F32/F16/BF16; 0 for the block types (use DTypeBytes).
constexpr size_t DTypeSize(DType t) {
  return t == DType::kF32 ? 4 : (t == DType::kF16 || t == DType::kBF16) ? 2 : 0;
}

// Bytes of `n` elements (for the block types n must be a multiple of 32): a Q8_0 block is
// 34 bytes (F16 scale + 32 int8), a Q4_0 block 18 (F16 scale + 16 bytes of nibbles).
constexpr size_t DTypeBytes(DType t, int64_t n) {
  if (t == DType::kQ8_0) return static_cast<size_t>(n / 32) * 34;
  if (t == DType::kQ4_0) return static_cast<size_t>(n / 32) * 18;
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
