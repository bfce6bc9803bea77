// Element types of stored weights and the scalar conversions between them.
#ifndef STOCHA_ENGINE_MODEL_DTYPE_H_
#define STOCHA_ENGINE_MODEL_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace stocha {

// Weights stay in their stored dtype unless a load option converts them;
// compute always accumulates in F32.
enum class DType : uint8_t { kF32, kF16, kBF16 };

constexpr size_t DTypeSize(DType t) { return t == DType::kF32 ? 4 : 2; }
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
