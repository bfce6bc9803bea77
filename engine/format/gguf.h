// GGUF (v2/v3) container: metadata, tensor infos and the embedded tokenizer vocabulary.
#ifndef STOCHA_ENGINE_FORMAT_GGUF_H_
#define STOCHA_ENGINE_FORMAT_GGUF_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/model/dtype.h"
#include "engine/tokenizers/gguf_vocab.h"

namespace stocha {

enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
absl::string_view GgufTypeName(GgufType type);

// A metadata value. It views the parsed bytes (no copies), so it lives as long as they do.
// Numeric scalars and numeric array elements are decoded on demand from `raw`.
struct GgufValue {
  GgufType type = GgufType::kU8;
  const uint8_t* raw = nullptr;            // numeric scalar, or packed numeric elements
  absl::string_view str;                   // kString
  GgufType elem_type = GgufType::kU8;      // kArray
  uint64_t count = 0;                      // kArray: number of elements
  std::vector<absl::string_view> strings;  // kArray of kString
  std::vector<GgufValue> arrays;           // kArray of kArray
};

struct GgufTensorInfo {
  std::string name;
  uint32_t ggml_type = 0;
  std::optional<DType> dtype;     // set for F32 (0), F16 (1), BF16 (30), Q4_0 (2), Q8_0 (8)
  std::vector<int64_t> shape;     // row-major: the reverse of GGUF's ne[]
  uint64_t offset = 0;            // relative to the data section
  const uint8_t* data = nullptr;  // null unless dtype is set
  uint64_t nbytes = 0;            // 0 unless dtype is set
};

// A parsed GGUF file (filled in by ParseGguf). Thread-safety: immutable; the bytes it was parsed
// from must outlive it.
class GgufFile {
 public:
  uint32_t version = 0;
  std::string source;
  std::map<std::string, GgufValue, std::less<>> metadata;
  std::vector<GgufTensorInfo> tensors;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // where the data section starts in the file

  const GgufValue* Find(absl::string_view key) const;
  const GgufTensorInfo* FindTensor(absl::string_view name) const;

  // Typed getters; errors name `source` and the key. The one-argument forms fail when the
  // key is missing; the others return `fallback`. Integers accept any integer type,
  // floats any numeric type.
  absl::StatusOr<int64_t> GetInt(absl::string_view key) const;
  absl::StatusOr<int64_t> GetInt(absl::string_view key, int64_t fallback) const;
  absl::StatusOr<double> GetFloat(absl::string_view key, double fallback) const;
  absl::StatusOr<bool> GetBool(absl::string_view key, bool fallback) const;
  absl::StatusOr<std::string> GetString(absl::string_view key) const;
  absl::StatusOr<std::string> GetString(absl::string_view key, absl::string_view fallback) const;
  absl::StatusOr<std::vector<std::string>> GetStringArray(absl::string_view key) const;
  absl::StatusOr<std::vector<float>> GetFloatArray(absl::string_view key) const;
  absl::StatusOr<std::vector<int>> GetIntArray(absl::string_view key) const;

  std::map<std::string, size_t, std::less<>> tensor_index;  // name -> index in tensors
};

// True when `bytes` starts with the GGUF magic.
bool IsGguf(absl::Span<const uint8_t> bytes);

// Parses and validates the container: every count and length is checked against the
// remaining bytes before anything is allocated; duplicate keys or tensor names, bad
// alignment, more than 4 dims, and F32/F16/BF16 data outside the file are errors naming
// `source` (and the key or tensor). Tensors of other ggml types are listed with
// dtype == nullopt; loaders reject them when used.
absl::StatusOr<GgufFile> ParseGguf(absl::Span<const uint8_t> bytes, absl::string_view source);

// Reads tokenizer.ggml.* into a GgufVocab (tokens required; scores, token_type, merges,
// special ids and flags optional, checked for consistent sizes and ids within the vocab).
absl::StatusOr<GgufVocab> ReadGgufVocab(const GgufFile& file, absl::string_view source);
// Maps `path`, parses it and reads its vocabulary (for vocab-only files).
absl::StatusOr<GgufVocab> ReadGgufVocabFile(const std::string& path);

// "Q8_0" for 8, "type 99" for unknown types.
std::string GgmlTypeName(uint32_t ggml_type);

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_GGUF_H_
