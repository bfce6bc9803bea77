// safetensors parsing: every number in the header is checked against the file size.
#include "engine/format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/format/byte_reader.h"
#include "engine/format/status_macros.h"
#include "nlohmann/json.hpp"

namespace stocha {
namespace {

using Json = nlohmann::json;

absl::Status Bad(absl::string_view source, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", message));
}

absl::Status BadTensor(absl::string_view source, absl::string_view name, absl::string_view what) {
  return Bad(source, absl::StrCat("tensor '", name, "' ", what));
}

// Element sizes of every dtype the safetensors spec defines (0: unknown).
uint64_t DtypeBytes(absl::string_view dtype) {
  static constexpr std::pair<absl::string_view, uint64_t> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  for (const auto& [name, size] : kSizes) {
    if (name == dtype) return size;
  }
  return 0;
}

// Parses the JSON header, rejecting duplicate top-level names (nlohmann keeps the last).
absl::StatusOr<Json> ParseHeaderJson(absl::string_view text, absl::string_view source) {
  std::string duplicate;
  std::set<std::string> seen;
  auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && parsed.is_string() &&
        !seen.insert(parsed.get<std::string>()).second && duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  Json root = Json::parse(text, on_event, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Bad(source, "header is not valid JSON");
  if (!duplicate.empty()) return BadTensor(source, duplicate, "appears more than once");
  if (!root.is_object()) return Bad(source, "header must be a JSON object");
  return root;
}

absl::Status ParseShape(const Json& j, absl::string_view source, SafetensorsTensor& t,
                        uint64_t* numel) {
  if (!j.is_array()) return BadTensor(source, t.name, "has no 'shape' array");
  *numel = 1;
  for (const Json& d : j) {
    if (!d.is_number_integer()) return BadTensor(source, t.name, "has a non-integer dimension");
    if (!d.is_number_unsigned()) {
      return BadTensor(source, t.name, absl::StrCat("has a negative dimension (", d.dump(), ")"));
    }
    const uint64_t dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(INT64_MAX) || !CheckedMul(*numel, dim, numel)) {
      return BadTensor(source, t.name, "has a shape whose element count overflows");
    }
    t.shape.push_back(static_cast<int64_t>(dim));
  }
  return absl::OkStatus();
}

struct Extent {
  uint64_t begin, end;
  const std::string* name;
};

absl::Status ParseOffsets(const Json& j, absl::string_view source, const std::string& name,
                          uint64_t data_size, Extent* e) {
  if (!j.is_array() || j.size() != 2 || !j[0].is_number_unsigned() || !j[1].is_number_unsigned()) {
    return BadTensor(source, name, "needs 'data_offsets' [begin, end] of non-negative integers");
  }
  e->begin = j[0].get<uint64_t>();
  e->end = j[1].get<uint64_t>();
  if (e->end < e->begin) {
    return BadTensor(
        source, name,
        absl::StrCat("has data_offsets [", e->begin, ", ", e->end, "] with end < begin"));
  }
  if (e->end > data_size) {
    return BadTensor(source, name,
                     absl::StrCat("has data_offsets [", e->begin, ", ", e->end,
                                  "] outside the data section (", data_size, " bytes)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SafetensorsTensor> ParseEntry(const std::string& name, const Json& j,
                                             absl::string_view source,
                                             absl::Span<const uint8_t> data, Extent* extent) {
  SafetensorsTensor t;
  t.name = name;
  if (!j.is_object()) return BadTensor(source, name, "must be a JSON object");
  auto dtype = j.find("dtype");
  if (dtype == j.end() || !dtype->is_string()) return BadTensor(source, name, "has no 'dtype'");
  t.dtype = dtype->get<std::string>();
  const uint64_t elem = DtypeBytes(t.dtype);
  if (elem == 0) return BadTensor(source, name, absl::StrCat("has unknown dtype '", t.dtype, "'"));
  uint64_t numel = 0, nbytes = 0;
  auto shape = j.find("shape");
  STOCHA_RETURN_IF_ERROR(ParseShape(shape == j.end() ? Json() : *shape, source, t, &numel));
  auto offsets = j.find("data_offsets");
  STOCHA_RETURN_IF_ERROR(
      ParseOffsets(offsets == j.end() ? Json() : *offsets, source, name, data.size(), extent));
  if (!CheckedMul(numel, elem, &nbytes) || nbytes != extent->end - extent->begin) {
    return BadTensor(source, name,
                     absl::StrCat("has ", extent->end - extent->begin, " bytes, but its shape [",
                                  absl::StrJoin(t.shape, ", "), "] of ", t.dtype, " needs ", numel,
                                  " x ", elem));
  }
  t.data = data.data() + extent->begin;
  t.nbytes = nbytes;
  return t;
}

absl::Status CheckNoOverlap(std::vector<Extent> extents, absl::string_view source) {
  std::sort(extents.begin(), extents.end(),
            [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < extents.size(); ++i) {
    if (extents[i].begin < extents[i - 1].end) {
      return Bad(source, absl::StrCat("tensors '", *extents[i - 1].name, "' and '",
                                      *extents[i].name, "' overlap"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<SafetensorsTensor>> ParseSafetensors(absl::Span<const uint8_t> bytes,
                                                                absl::string_view source) {
  ByteReader reader(bytes, source);
  uint64_t header_len = 0;
  STOCHA_RETURN_IF_ERROR(reader.Read(&header_len, "the header length"));
  if (header_len > reader.remaining()) {
    return Bad(source, absl::StrCat("header length ", header_len, " extends beyond the file (",
                                    bytes.size(), " bytes)"));
  }
  absl::string_view header;
  STOCHA_RETURN_IF_ERROR(reader.Take(header_len, "the header", &header));
  STOCHA_ASSIGN_OR_RETURN(Json root, ParseHeaderJson(header, source));
  const absl::Span<const uint8_t> data = bytes.subspan(reader.pos());
  std::vector<SafetensorsTensor> tensors;
  std::vector<Extent> extents;
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") continue;
    Extent extent;
    STOCHA_ASSIGN_OR_RETURN(SafetensorsTensor t, ParseEntry(name, entry, source, data, &extent));
    tensors.push_back(std::move(t));
    extents.push_back(extent);
  }
  for (size_t i = 0; i < extents.size(); ++i) extents[i].name = &tensors[i].name;
  STOCHA_RETURN_IF_ERROR(CheckNoOverlap(std::move(extents), source));
  return tensors;
}

absl::StatusOr<std::map<std::string, std::string>> ParseSafetensorsIndex(
    absl::string_view json_text, absl::string_view source) {
  Json root = Json::parse(json_text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return Bad(source, "must be a JSON object");
  auto map = root.find("weight_map");
  if (map == root.end() || !map->is_object()) {
    return Bad(source, "field 'weight_map' must be an object");
  }
  std::map<std::string, std::string> result;
  for (const auto& [name, file] : map->items()) {
    if (!file.is_string()) return BadTensor(source, name, "maps to a non-string in weight_map");
    std::string shard = file.get<std::string>();
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos) {
      return BadTensor(source, name, absl::StrCat("maps to '", shard, "', not a plain file name"));
    }
    result.emplace(name, std::move(shard));
  }
  return result;
}

}  // namespace stocha
