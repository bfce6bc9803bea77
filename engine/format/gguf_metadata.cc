// GgufFile's typed metadata getters and the tokenizer.ggml.* vocabulary reader.
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/format/gguf.h"
#include "engine/format/mapped_file.h"
#include "engine/format/status_macros.h"

namespace stocha {
namespace {

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Element i of a packed numeric array (i == 0 for a scalar). False for non-integers and
// for u64 values above INT64_MAX.
bool DecodeInt(GgufType t, const uint8_t* raw, uint64_t i, int64_t* out) {
  switch (t) {
    case GgufType::kU8:
      *out = Load<uint8_t>(raw + i);
      return true;
    case GgufType::kI8:
      *out = Load<int8_t>(raw + i);  // NOLINT(bugprone-signed-char-misuse): i8 sign-extends
      return true;
    case GgufType::kBool:
      *out = Load<uint8_t>(raw + i) != 0;
      return true;
    case GgufType::kU16:
      *out = Load<uint16_t>(raw + 2 * i);
      return true;
    case GgufType::kI16:
      *out = Load<int16_t>(raw + 2 * i);
      return true;
    case GgufType::kU32:
      *out = Load<uint32_t>(raw + 4 * i);
      return true;
    case GgufType::kI32:
      *out = Load<int32_t>(raw + 4 * i);
      return true;
    case GgufType::kI64:
      *out = Load<int64_t>(raw + 8 * i);
      return true;
    case GgufType::kU64: {
      const uint64_t u = Load<uint64_t>(raw + 8 * i);
      *out = static_cast<int64_t>(u);
      return u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    }
    default:
      return false;
  }
}

bool DecodeFloat(GgufType t, const uint8_t* raw, uint64_t i, double* out) {
  if (t == GgufType::kF32) {
    *out = Load<float>(raw + 4 * i);
    return true;
  }
  if (t == GgufType::kF64) {
    *out = Load<double>(raw + 8 * i);
    return true;
  }
  int64_t v = 0;
  if (t == GgufType::kBool || !DecodeInt(t, raw, i, &v)) return false;
  *out = static_cast<double>(v);
  return true;
}

absl::Status TypeError(const GgufFile& f, absl::string_view key, const GgufValue& v,
                       absl::string_view want) {
  std::string got(GgufTypeName(v.type));
  if (v.type == GgufType::kArray) absl::StrAppend(&got, " of ", GgufTypeName(v.elem_type));
  return absl::InvalidArgumentError(
      absl::StrCat(f.source, ": metadata key '", key, "' has type ", got, ", expected ", want));
}

absl::Status Missing(const GgufFile& f, absl::string_view key) {
  return absl::InvalidArgumentError(absl::StrCat(f.source, ": missing metadata key '", key, "'"));
}

absl::StatusOr<const GgufValue*> FindArray(const GgufFile& f, absl::string_view key,
                                           absl::string_view want) {
  const GgufValue* v = f.Find(key);
  if (v == nullptr) return Missing(f, key);
  if (v->type != GgufType::kArray) return TypeError(f, key, *v, want);
  return v;
}

}  // namespace

absl::string_view GgufTypeName(GgufType type) {
  static constexpr absl::string_view kNames[] = {"u8",  "i8",  "u16",  "i16",    "u32",
                                                 "i32", "f32", "bool", "string", "array",
                                                 "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(type);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

const GgufValue* GgufFile::Find(absl::string_view key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::FindTensor(absl::string_view name) const {
  auto it = tensor_index.find(name);
  return it == tensor_index.end() ? nullptr : &tensors[it->second];
}

absl::StatusOr<int64_t> GgufFile::GetInt(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(*this, key);
  int64_t out = 0;
  if (v->type == GgufType::kBool || v->raw == nullptr || !DecodeInt(v->type, v->raw, 0, &out)) {
    return TypeError(*this, key, *v, "an integer (below 2^63)");
  }
  return out;
}

absl::StatusOr<int64_t> GgufFile::GetInt(absl::string_view key, int64_t fallback) const {
  return Find(key) == nullptr ? fallback : GetInt(key);
}

absl::StatusOr<double> GgufFile::GetFloat(absl::string_view key, double fallback) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return fallback;
  double out = 0;
  if (v->raw == nullptr || v->type == GgufType::kArray || !DecodeFloat(v->type, v->raw, 0, &out)) {
    return TypeError(*this, key, *v, "a number");
  }
  return out;
}

absl::StatusOr<bool> GgufFile::GetBool(absl::string_view key, bool fallback) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return fallback;
  if (v->type != GgufType::kBool) return TypeError(*this, key, *v, "bool");
  return v->raw[0] != 0;
}

absl::StatusOr<std::string> GgufFile::GetString(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(*this, key);
  if (v->type != GgufType::kString) return TypeError(*this, key, *v, "string");
  return static_cast<std::string>(v->str);
}

absl::StatusOr<std::string> GgufFile::GetString(absl::string_view key,
                                                absl::string_view fallback) const {
  return Find(key) == nullptr ? static_cast<std::string>(fallback) : GetString(key);
}

absl::StatusOr<std::vector<std::string>> GgufFile::GetStringArray(absl::string_view key) const {
  STOCHA_ASSIGN_OR_RETURN(const GgufValue* v, FindArray(*this, key, "array of string"));
  if (v->elem_type != GgufType::kString) return TypeError(*this, key, *v, "array of string");
  return std::vector<std::string>(v->strings.begin(), v->strings.end());
}

absl::StatusOr<std::vector<float>> GgufFile::GetFloatArray(absl::string_view key) const {
  STOCHA_ASSIGN_OR_RETURN(const GgufValue* v, FindArray(*this, key, "array of f32"));
  std::vector<float> out(v->raw == nullptr ? 0 : v->count);
  for (uint64_t i = 0; i < out.size(); ++i) {
    double d = 0;
    if (!DecodeFloat(v->elem_type, v->raw, i, &d)) return TypeError(*this, key, *v, "array of f32");
    out[i] = static_cast<float>(d);
  }
  if (v->raw == nullptr && v->count != 0) return TypeError(*this, key, *v, "array of f32");
  return out;
}

absl::StatusOr<std::vector<int>> GgufFile::GetIntArray(absl::string_view key) const {
  STOCHA_ASSIGN_OR_RETURN(const GgufValue* v, FindArray(*this, key, "array of i32"));
  std::vector<int> out(v->raw == nullptr ? 0 : v->count);
  for (uint64_t i = 0; i < out.size(); ++i) {
    int64_t x = 0;
    if (v->elem_type == GgufType::kBool || !DecodeInt(v->elem_type, v->raw, i, &x) ||
        x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) {
      return TypeError(*this, key, *v, "array of 32-bit integers");
    }
    out[i] = static_cast<int>(x);
  }
  if (v->raw == nullptr && v->count != 0) return TypeError(*this, key, *v, "array of i32");
  return out;
}

}  // namespace stocha
