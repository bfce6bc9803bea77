// GPT-2's reversible mapping between raw bytes and printable Unicode characters.
#include "engine/tokenizers/byte_level.h"

#include <array>

namespace stocha::tokenizers {
namespace {

// bytes_to_unicode() from GPT-2's encoder.py: printable Latin-1 bytes map to themselves,
// the other 68 bytes to U+0100, U+0101, ... in byte order.
struct Tables {
  std::array<std::string, 256> to_utf8;
  std::array<int, 512> from_cp;  // code point -> byte, -1 if none
  Tables() {
    from_cp.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      const int cp = printable ? b : next++;
      from_cp[cp] = b;
      std::string& s = to_utf8[b];
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    }
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

}  // namespace

std::string ByteLevelEncode(std::string_view bytes) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += t.to_utf8[b];
  return out;
}

std::string ByteLevelDecode(std::string_view text) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = text[i];
    int cp = -1;
    size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < text.size() &&
               (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
      cp = ((c & 0x1F) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3F);
      len = 2;
    }
    if (cp >= 0 && cp < 512 && t.from_cp[cp] >= 0) {
      out.push_back(static_cast<char>(t.from_cp[cp]));
    } else {
      // Not a mapped character: copy the whole UTF-8 sequence through.
      len = 1;
      while (i + len < text.size() && len < 4 &&
             (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80) {
        ++len;
      }
      out.append(text, i, len);
    }
    i += len;
  }
  return out;
}

}  // namespace stocha::tokenizers
