// Byte and UTF-8 helpers shared by the tokenizer implementations.
#ifndef STOCHA_ENGINE_TOKENIZERS_TEXT_UTIL_H_
#define STOCHA_ENGINE_TOKENIZERS_TEXT_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stocha::tokenizers {

// SentencePiece's visible space, U+2581 "▁".
inline constexpr std::string_view kSpmSpace = "\xE2\x96\x81";

// Debian's Abseil has its own absl::string_view (not an alias of std::string_view);
// this converts for heterogeneous lookups in absl hash maps.
inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }

// Length of the UTF-8 sequence that `lead` starts, by its high nibble, as llama.cpp's
// unicode_len_utf8 does: 1 for ASCII and for stray continuation bytes, 2/3/4 otherwise.
// No validation: callers clamp to the bytes actually present.
inline int Utf8SeqLen(unsigned char lead) {
  static constexpr int kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// Parses a byte-fallback piece "<0xHH>" (exactly six characters, hex digits either case).
std::optional<uint8_t> ParseBytePiece(std::string_view piece);

// Replaces every occurrence of `from` (non-empty) in `s` by `to`.
std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to);

// Reads a whole file; NotFound / DataLoss errors name the path.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_TEXT_UTIL_H_
