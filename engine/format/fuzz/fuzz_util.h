// Shared helpers for the format fuzzers: bounds invariants and a fixed tiny config.
#ifndef STOCHA_ENGINE_FORMAT_FUZZ_FUZZ_UTIL_H_
#define STOCHA_ENGINE_FORMAT_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>

#include "engine/model/model.h"

namespace stocha::fuzz {

// Traps (a crash libFuzzer reports) if [p, p + n) is not inside [data, data + size).
inline void CheckInside(const void* p, uint64_t n, const uint8_t* data, size_t size) {
  const auto* b = static_cast<const uint8_t*>(p);
  if (b < data || b > data + size || n > static_cast<uint64_t>(data + size - b)) {
    __builtin_trap();
  }
}

// Conversion reads every byte of every tensor, so ASan sees any out-of-bounds view.
inline LoadOptions ReadAllBytes() {
  LoadOptions options;
  options.convert_weights_to = DType::kBF16;
  return options;
}

}  // namespace stocha::fuzz

#endif  // STOCHA_ENGINE_FORMAT_FUZZ_FUZZ_UTIL_H_
