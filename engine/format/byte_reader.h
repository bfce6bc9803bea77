// Bounds-checked little-endian reads from untrusted bytes, and overflow-checked sizes.
#ifndef STOCHA_ENGINE_FORMAT_BYTE_READER_H_
#define STOCHA_ENGINE_FORMAT_BYTE_READER_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace stocha {

static_assert(std::endian::native == std::endian::little,
              "the loaders read little-endian files with memcpy");

// a * b (and a + b) in 64 bits; false on overflow. Every size computed from file
// contents goes through these before it is compared with the file size.
inline bool CheckedMul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool CheckedAdd(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

// A cursor over bytes owned by someone else. Never reads past the end: a short read
// returns InvalidArgument naming `source`, the offset and what was being read.
class ByteReader {
 public:
  ByteReader(absl::Span<const uint8_t> bytes, absl::string_view source)
      : bytes_(bytes), source_(source) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  const uint8_t* current() const { return bytes_.data() + pos_; }
  absl::string_view source() const { return source_; }

  template <typename T>
  absl::Status Read(T* out, absl::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (remaining() < sizeof(T)) return Truncated(what, sizeof(T));
    std::memcpy(out, current(), sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  // Advances `n` bytes, returning a view of them.
  absl::Status Take(uint64_t n, absl::string_view what, absl::string_view* out) {
    if (remaining() < n) return Truncated(what, n);
    *out = absl::string_view(reinterpret_cast<const char*>(current()), n);
    pos_ += n;
    return absl::OkStatus();
  }

  absl::Status Truncated(absl::string_view what, uint64_t needed) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": truncated at byte ", pos_,
                                                   " reading ", what, " (needs ", needed,
                                                   " bytes, ", remaining(), " left)"));
  }

 private:
  absl::Span<const uint8_t> bytes_;
  absl::string_view source_;
  size_t pos_ = 0;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_BYTE_READER_H_
