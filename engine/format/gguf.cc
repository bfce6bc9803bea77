// GGUF container parsing: header, metadata key/values and tensor infos, all bounds-checked.
#include "engine/format/gguf.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/format/byte_reader.h"
#include "engine/format/status_macros.h"

namespace stocha {
namespace {

constexpr int kMaxArrayDepth = 8;  // GGUF writers nest at most 1; the cap bounds recursion.
constexpr uint32_t kMaxDims = 4;   // GGML_MAX_DIMS
// Minimum encoded sizes, used to bound counts by the bytes left before allocating.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // key len, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // name len, n_dims, type, offset

absl::Status Bad(absl::string_view source, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", message));
}

// Size of a fixed-size value type; 0 for string, array and unknown types.
uint64_t FixedSize(GgufType t) {
  switch (t) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool:
      return 1;
    case GgufType::kU16:
    case GgufType::kI16:
      return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32:
      return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64:
      return 8;
    default:
      return 0;
  }
}

bool KnownType(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kF64); }

absl::Status ReadString(ByteReader& r, absl::string_view what, absl::string_view* out) {
  uint64_t len = 0;
  STOCHA_RETURN_IF_ERROR(r.Read(&len, what));
  return r.Take(len, what, out);
}

absl::Status ReadValue(ByteReader& r, GgufType type, absl::string_view key, int depth,
                       GgufValue* out);

absl::Status ReadArray(ByteReader& r, absl::string_view key, int depth, GgufValue* out) {
  uint32_t elem = 0;
  STOCHA_RETURN_IF_ERROR(r.Read(&elem, key));
  STOCHA_RETURN_IF_ERROR(r.Read(&out->count, key));
  if (!KnownType(elem)) {
    return Bad(r.source(), absl::StrCat("metadata key '", key, "' has unknown array type ", elem));
  }
  out->elem_type = static_cast<GgufType>(elem);
  if (const uint64_t size = FixedSize(out->elem_type); size != 0) {
    uint64_t bytes = 0;
    if (!CheckedMul(out->count, size, &bytes)) return r.Truncated(key, UINT64_MAX);
    absl::string_view data;
    STOCHA_RETURN_IF_ERROR(r.Take(bytes, key, &data));
    out->raw = reinterpret_cast<const uint8_t*>(data.data());
    return absl::OkStatus();
  }
  // Each string takes >= 8 bytes and each nested array >= 12: bound count before reserving.
  const uint64_t min_elem = out->elem_type == GgufType::kString ? 8 : 12;
  if (out->count > r.remaining() / min_elem) return r.Truncated(key, out->count * min_elem);
  if (out->elem_type == GgufType::kString) {
    out->strings.resize(out->count);
    for (absl::string_view& s : out->strings) STOCHA_RETURN_IF_ERROR(ReadString(r, key, &s));
    return absl::OkStatus();
  }
  if (depth >= kMaxArrayDepth) {
    return Bad(r.source(), absl::StrCat("metadata key '", key, "' nests arrays too deeply"));
  }
  out->arrays.resize(out->count);
  for (GgufValue& v : out->arrays) {
    STOCHA_RETURN_IF_ERROR(ReadValue(r, GgufType::kArray, key, depth + 1, &v));
  }
  return absl::OkStatus();
}

absl::Status ReadValue(ByteReader& r, GgufType type, absl::string_view key, int depth,
                       GgufValue* out) {
  out->type = type;
  if (type == GgufType::kString) return ReadString(r, key, &out->str);
  if (type == GgufType::kArray) return ReadArray(r, key, depth, out);
  absl::string_view data;
  STOCHA_RETURN_IF_ERROR(r.Take(FixedSize(type), key, &data));
  out->raw = reinterpret_cast<const uint8_t*>(data.data());
  return absl::OkStatus();
}

absl::Status ReadMetadata(ByteReader& r, uint64_t n_kv, GgufFile& file) {
  if (n_kv > r.remaining() / kMinKvBytes) {
    return Bad(r.source(), absl::StrCat("metadata count ", n_kv, " exceeds what ", r.remaining(),
                                        " remaining bytes can hold"));
  }
  for (uint64_t i = 0; i < n_kv; ++i) {
    absl::string_view key;
    STOCHA_RETURN_IF_ERROR(ReadString(r, "a metadata key", &key));
    uint32_t type = 0;
    STOCHA_RETURN_IF_ERROR(r.Read(&type, key));
    if (!KnownType(type)) {
      return Bad(r.source(), absl::StrCat("metadata key '", key, "' has unknown type ", type));
    }
    GgufValue value;
    STOCHA_RETURN_IF_ERROR(ReadValue(r, static_cast<GgufType>(type), key, 0, &value));
    if (!file.metadata.emplace(static_cast<std::string>(key), std::move(value)).second) {
      return Bad(r.source(), absl::StrCat("metadata key '", key, "' appears more than once"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<GgufTensorInfo> ReadTensorInfo(ByteReader& r) {
  GgufTensorInfo t;
  absl::string_view name;
  STOCHA_RETURN_IF_ERROR(ReadString(r, "a tensor name", &name));
  t.name = static_cast<std::string>(name);
  uint32_t n_dims = 0;
  STOCHA_RETURN_IF_ERROR(r.Read(&n_dims, t.name));
  if (n_dims > kMaxDims) {
    return Bad(r.source(), absl::StrCat("tensor '", t.name, "' has ", n_dims, " dims (max 4)"));
  }
  uint64_t numel = 1;
  t.shape.resize(n_dims);
  for (uint32_t d = 0; d < n_dims; ++d) {
    uint64_t ne = 0;
    STOCHA_RETURN_IF_ERROR(r.Read(&ne, t.name));
    if (ne > static_cast<uint64_t>(INT64_MAX) || !CheckedMul(numel, ne, &numel) ||
        numel > static_cast<uint64_t>(INT64_MAX)) {
      return Bad(r.source(), absl::StrCat("tensor '", t.name,
                                          "' has an element count that "
                                          "overflows"));
    }
    t.shape[n_dims - 1 - d] = static_cast<int64_t>(ne);  // ne[0] is innermost.
  }
  STOCHA_RETURN_IF_ERROR(r.Read(&t.ggml_type, t.name));
  STOCHA_RETURN_IF_ERROR(r.Read(&t.offset, t.name));
  if (t.ggml_type == 0) t.dtype = DType::kF32;
  if (t.ggml_type == 1) t.dtype = DType::kF16;
  if (t.ggml_type == 30) t.dtype = DType::kBF16;
  if (t.ggml_type == 8) t.dtype = DType::kQ8_0;
  if (t.ggml_type == 2) t.dtype = DType::kQ4_0;
  if (t.ggml_type == 12) t.dtype = DType::kQ4_K;  // ggml.h: GGML_TYPE_Q4_K = 12
  if (t.ggml_type == 13) t.dtype = DType::kQ5_K;
  if (t.ggml_type == 14) t.dtype = DType::kQ6_K;
  if (t.dtype.has_value() && IsQuantized(*t.dtype) &&
      (n_dims == 0 || t.shape.back() % DTypeBlockSize(*t.dtype) != 0)) {
    return Bad(
        r.source(),
        absl::StrCat("tensor '", t.name, "' has ggml type ", GgmlTypeName(t.ggml_type),
                     " but rows of ", n_dims == 0 ? 1 : t.shape.back(),
                     " elements: not a multiple of its block size ", DTypeBlockSize(*t.dtype)));
  }
  if (t.dtype.has_value()) t.nbytes = DTypeBytes(*t.dtype, static_cast<int64_t>(numel));
  return t;
}

absl::Status ReadAlignment(GgufFile& file) {
  STOCHA_ASSIGN_OR_RETURN(int64_t alignment, file.GetInt("general.alignment", 32));
  if (alignment <= 0 || (alignment & (alignment - 1)) != 0) {
    return Bad(file.source,
               absl::StrCat("general.alignment (", alignment, ") must be a power of two"));
  }
  file.alignment = static_cast<uint64_t>(alignment);
  return absl::OkStatus();
}

// Places each F32/F16/BF16 tensor in the data section and checks bounds and overlap.
absl::Status LocateTensors(absl::Span<const uint8_t> bytes, GgufFile& file) {
  std::vector<std::pair<uint64_t, const GgufTensorInfo*>> extents;
  for (GgufTensorInfo& t : file.tensors) {
    if (t.offset % file.alignment != 0) {
      return Bad(file.source, absl::StrCat("tensor '", t.name, "' offset ", t.offset,
                                           " is not a multiple of the alignment ", file.alignment));
    }
    if (!t.dtype.has_value()) continue;
    uint64_t begin = 0, end = 0;
    if (!CheckedAdd(file.data_offset, t.offset, &begin) || !CheckedAdd(begin, t.nbytes, &end) ||
        end > bytes.size()) {
      return Bad(file.source,
                 absl::StrCat("tensor '", t.name, "' data (offset ", t.offset, ", ", t.nbytes,
                              " bytes) extends beyond the file (", bytes.size(), " bytes)"));
    }
    t.data = bytes.data() + begin;
    extents.emplace_back(begin, &t);
  }
  std::sort(extents.begin(), extents.end());
  for (size_t i = 1; i < extents.size(); ++i) {
    const GgufTensorInfo& prev = *extents[i - 1].second;
    if (extents[i].first < extents[i - 1].first + prev.nbytes) {
      return Bad(file.source, absl::StrCat("tensors '", prev.name, "' and '",
                                           extents[i].second->name, "' overlap"));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadTensorInfos(ByteReader& r, uint64_t n_tensors, GgufFile& file) {
  if (n_tensors > r.remaining() / kMinTensorInfoBytes) {
    return Bad(r.source(), absl::StrCat("tensor count ", n_tensors, " exceeds what ", r.remaining(),
                                        " remaining bytes can hold"));
  }
  file.tensors.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    STOCHA_ASSIGN_OR_RETURN(GgufTensorInfo t, ReadTensorInfo(r));
    if (!file.tensor_index.emplace(t.name, file.tensors.size()).second) {
      return Bad(r.source(), absl::StrCat("tensor '", t.name, "' appears more than once"));
    }
    file.tensors.push_back(std::move(t));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsGguf(absl::Span<const uint8_t> bytes) {
  return bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0;
}

absl::StatusOr<GgufFile> ParseGguf(absl::Span<const uint8_t> bytes, absl::string_view source) {
  if (!IsGguf(bytes)) return Bad(source, "not a GGUF file (no 'GGUF' magic)");
  ByteReader r(bytes, source);
  absl::string_view magic;
  STOCHA_RETURN_IF_ERROR(r.Take(4, "the magic", &magic));
  GgufFile file;
  file.source = static_cast<std::string>(source);
  STOCHA_RETURN_IF_ERROR(r.Read(&file.version, "the version"));
  if (file.version != 2 && file.version != 3) {
    return Bad(source, absl::StrCat("GGUF version ", file.version, " is not supported (2 or 3)"));
  }
  uint64_t n_tensors = 0, n_kv = 0;
  STOCHA_RETURN_IF_ERROR(r.Read(&n_tensors, "the tensor count"));
  STOCHA_RETURN_IF_ERROR(r.Read(&n_kv, "the metadata count"));
  STOCHA_RETURN_IF_ERROR(ReadMetadata(r, n_kv, file));
  STOCHA_RETURN_IF_ERROR(ReadTensorInfos(r, n_tensors, file));
  STOCHA_RETURN_IF_ERROR(ReadAlignment(file));
  const uint64_t header_end = r.pos();
  // header_end <= bytes.size() and alignment <= INT64_MAX, so this cannot overflow.
  file.data_offset = (header_end + file.alignment - 1) / file.alignment * file.alignment;
  STOCHA_RETURN_IF_ERROR(LocateTensors(bytes, file));
  return file;
}

std::string GgmlTypeName(uint32_t t) {
  static constexpr absl::string_view kNames[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2",   "Q4_3",  "Q5_0",  "Q5_1",
      "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",
      "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
      "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M", "BF16"};
  if (t < std::size(kNames)) return static_cast<std::string>(kNames[t]);
  return absl::StrCat("type ", t);
}

}  // namespace stocha
