// The activation vocabulary: parsing and printing of FFN activation names.
#include "engine/activation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace stocha {
namespace {

struct NameEntry {
  const char* name;
  ActivationKind kind;
};
// Canonical names first (in enum order), then aliases.
constexpr NameEntry kNames[] = {
    {"silu", ActivationKind::kSilu},
    {"relu", ActivationKind::kRelu},
    {"stocha", ActivationKind::kStochA},
    {"swiglu", ActivationKind::kSilu},
};
constexpr char kExpected[] = "expected silu, relu or stocha; swiglu is an alias of silu";

absl::Status CheckP(std::string_view text, float p) {
  if (p >= 0.0f && p <= 1.0f) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("activation '%s': p must be in [0, 1], got %g", std::string(text), p));
}

}  // namespace

const char* ActivationKindName(ActivationKind kind) {
  for (const NameEntry& e : kNames) {
    if (e.kind == kind) return e.name;
  }
  return "?";
}

std::vector<std::string> ActivationKindNames() {
  return {ActivationKindName(ActivationKind::kSilu), ActivationKindName(ActivationKind::kRelu),
          ActivationKindName(ActivationKind::kStochA)};
}

absl::StatusOr<ActivationKind> ParseActivationKind(std::string_view name_in) {
  // Debian's Abseil has its own string_view type: work on std::string / absl::string_view.
  const std::string name(name_in);
  const std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
  for (const NameEntry& e : kNames) {
    if (s == e.name) return e.kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown activation '", name, "' (", kExpected, ")"));
}

absl::StatusOr<ActivationSpec> MakeActivation(ActivationKind kind, std::optional<float> p,
                                              float default_p) {
  if (kind != ActivationKind::kStochA) {
    if (p.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("activation '", ActivationKindName(kind),
                                                     "' takes no p (only stocha does)"));
    }
    return ActivationSpec{kind, 0.0f};
  }
  const float value = p.value_or(default_p);
  if (absl::Status s = CheckP("stocha", value); !s.ok()) return s;
  return ActivationSpec{kind, value};
}

absl::StatusOr<ActivationSpec> ParseActivation(std::string_view text_in, float default_p) {
  const std::string text(text_in);
  const std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  absl::string_view name = s, arg;
  bool has_arg = false;
  if (const size_t cut = s.find_first_of(":=("); cut != std::string::npos) {
    name = absl::string_view(s).substr(0, cut);
    arg = absl::string_view(s).substr(cut);
    has_arg = true;
    const bool separated = absl::ConsumePrefix(&arg, ":") || absl::ConsumePrefix(&arg, "=");
    if (!separated && !(absl::ConsumePrefix(&arg, "(") && absl::ConsumeSuffix(&arg, ")"))) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed activation '", text, "' (expected NAME, stocha:P or stocha(P))"));
    }
  }
  absl::StatusOr<ActivationKind> kind = ParseActivationKind(std::string(name));
  if (!kind.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown activation '", text, "' (", kExpected, ")"));
  }
  std::optional<float> p;
  if (has_arg) {
    if (*kind != ActivationKind::kStochA) {
      return absl::InvalidArgumentError(
          absl::StrCat("activation '", text, "': only stocha takes a p"));
    }
    float v = 0.0f;
    if (!absl::SimpleAtof(arg, &v)) {
      return absl::InvalidArgumentError(absl::StrCat("activation '", text, "': p is not a number"));
    }
    p = v;
  }
  if (*kind == ActivationKind::kStochA) {
    if (absl::Status st = CheckP(text, p.value_or(default_p)); !st.ok()) return st;
  }
  return MakeActivation(*kind, p, default_p);
}

std::string ActivationToString(const ActivationSpec& spec) {
  if (spec.kind != ActivationKind::kStochA) return ActivationKindName(spec.kind);
  // The shortest of %.6g ... %.9g that reads back as the same float (9 always does).
  std::string out;
  for (int digits = 6; digits <= 9; ++digits) {
    out = absl::StrFormat("%.*g", digits, spec.p);
    float back = 0.0f;
    if (absl::SimpleAtof(out, &back) && back == spec.p) break;
  }
  return absl::StrCat(ActivationKindName(spec.kind), ":", out);
}

}  // namespace stocha
