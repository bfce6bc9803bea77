// Parsing and printing of FFN activation modes.
#include "engine/activation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace stocha {

absl::StatusOr<ActivationSpec> ParseActivation(std::string_view text_in, float default_p) {
  // Debian's Abseil has its own string_view type: work on std::string / absl::string_view.
  const std::string text(text_in);
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (s == "silu" || s == "swiglu") return ActivationSpec{ActivationKind::kSilu, 0.0f};
  if (s == "relu") return ActivationSpec{ActivationKind::kRelu, 0.0f};
  absl::string_view rest = s;
  if (!absl::ConsumePrefix(&rest, "stocha")) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown activation '", text, "' (expected relu, silu or stocha:P)"));
  }
  float p = default_p;
  if (!rest.empty()) {
    const bool separated = absl::ConsumePrefix(&rest, ":") || absl::ConsumePrefix(&rest, "=") ||
                           (absl::ConsumePrefix(&rest, "(") && absl::ConsumeSuffix(&rest, ")"));
    if (!separated) {
      return absl::InvalidArgumentError(absl::StrCat("malformed activation '", text, "'"));
    }
    if (!absl::SimpleAtof(rest, &p)) {
      return absl::InvalidArgumentError(absl::StrCat("activation '", text, "': p is not a number"));
    }
  }
  if (!(p >= 0.0f && p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("activation '%s': p must be in [0, 1], got %g", text, p));
  }
  return ActivationSpec{ActivationKind::kStochA, p};
}

std::string ActivationToString(const ActivationSpec& spec) {
  switch (spec.kind) {
    case ActivationKind::kSilu:
      return "silu";
    case ActivationKind::kRelu:
      return "relu";
    case ActivationKind::kStochA:
      return absl::StrFormat("stocha:%g", spec.p);
  }
  return "?";
}

}  // namespace stocha
