// StorageTypeFor (the per-tensor quantization rule) and WeightTypeSummary.
#include "engine/model/weight_types.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/model/model.h"

namespace stocha {

std::vector<DType> KnownDTypes() {
  std::vector<DType> out;
  for (int i = 0; i < 256; ++i) {
    const auto t = static_cast<DType>(i);
    if (DTypeName(t) != "?") out.push_back(t);
  }
  return out;
}

std::optional<DType> ParseDType(std::string_view name) {
  for (DType t : KnownDTypes()) {
    if (absl::EqualsIgnoreCase(std::string(DTypeName(t)), std::string(name))) return t;
  }
  return std::nullopt;
}

std::string KnownDTypeNames(std::string_view sep, bool block_types_only) {
  std::string out;
  for (DType t : KnownDTypes()) {
    if (block_types_only && !IsQuantized(t)) continue;
    if (!out.empty()) out += sep;
    out += absl::AsciiStrToLower(std::string(DTypeName(t)));
  }
  return out;
}

absl::StatusOr<DType> ParseQuantizeFlag(std::string_view value) {
  const std::optional<DType> t = ParseDType(value);
  if (t.has_value() && IsQuantized(*t)) return *t;
  return absl::InvalidArgumentError(absl::StrCat("--quantize '", std::string(value),
                                                 "' is not one of ", KnownDTypeNames(", ", true)));
}

DType StorageTypeFor(DType target, const std::vector<int64_t>& shape, bool transposed_too) {
  if (shape.size() != 2) return DType::kF32;
  const int64_t block = DTypeBlockSize(target);
  if (shape[1] % block != 0 || (transposed_too && shape[0] % block != 0)) return DType::kF16;
  return target;
}

std::string WeightTypeSummary(const ModelWeights& w) {
  std::map<DType, int64_t> elements;
  auto add = [&](const Tensor& t) {
    if (t.present() && t.shape.size() == 2) elements[t.dtype] += t.numel();
  };
  add(w.embed);
  if (w.lm_head.data != w.embed.data) add(w.lm_head);
  for (const LayerWeights& l : w.layers) {
    for (const Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*t);
  }
  if (elements.empty()) return "";
  if (elements.size() == 1) return std::string(DTypeName(elements.begin()->first));
  std::vector<std::pair<int64_t, DType>> by_size;
  int64_t total = 0;
  for (const auto& [t, n] : elements) {
    by_size.emplace_back(n, t);
    total += n;
  }
  std::sort(by_size.begin(), by_size.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::string out = "mixed:";
  for (size_t i = 0; i < by_size.size(); ++i) {
    const double pct = 100.0 * static_cast<double>(by_size[i].first) / static_cast<double>(total);
    absl::StrAppend(&out, i == 0 ? " " : ", ", std::string(DTypeName(by_size[i].second)), " ",
                    static_cast<int>(std::lround(pct)), "%");
  }
  return out;
}

}  // namespace stocha
