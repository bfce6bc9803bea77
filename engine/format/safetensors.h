// safetensors files (single and sharded): header parsing and validation against the bytes.
#ifndef STOCHA_ENGINE_FORMAT_SAFETENSORS_H_
#define STOCHA_ENGINE_FORMAT_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace stocha {

// One tensor of a safetensors file; `data` points into the bytes given to the parser.
struct SafetensorsTensor {
  std::string name;
  std::string dtype;           // as written: "F32", "BF16", "I64", ...
  std::vector<int64_t> shape;  // row-major, outermost first
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;
};

// Parses `bytes` (8-byte LE header length, JSON header, data section). Checks that the
// header fits, every dtype is a known safetensors dtype, dims are >= 0, data_offsets lie
// in the data section with begin <= end, byte sizes equal numel * dtype size, tensors do
// not overlap and names are unique. "__metadata__" is skipped. Errors name `source` and
// the tensor. Allocation is bounded by the header length, itself bounded by bytes.size().
absl::StatusOr<std::vector<SafetensorsTensor>> ParseSafetensors(absl::Span<const uint8_t> bytes,
                                                                absl::string_view source);

// Parses model.safetensors.index.json: its "weight_map" (tensor name -> shard file name).
// Shard names must be plain file names (no '/', not "." or "..").
absl::StatusOr<std::map<std::string, std::string>> ParseSafetensorsIndex(
    absl::string_view json_text, absl::string_view source);

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_SAFETENSORS_H_
