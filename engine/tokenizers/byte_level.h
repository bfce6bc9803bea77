// GPT-2's reversible mapping between raw bytes and printable Unicode characters.
#ifndef STOCHA_ENGINE_TOKENIZERS_BYTE_LEVEL_H_
#define STOCHA_ENGINE_TOKENIZERS_BYTE_LEVEL_H_

#include <string>
#include <string_view>

namespace stocha::tokenizers {

// Maps every byte to its printable stand-in (e.g. ' ' -> "Ġ"), as UTF-8.
std::string ByteLevelEncode(std::string_view bytes);

// Inverse of ByteLevelEncode. Characters outside the mapping (added tokens, broken
// vocabularies) are copied through as their UTF-8 bytes.
std::string ByteLevelDecode(std::string_view text);

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_BYTE_LEVEL_H_
