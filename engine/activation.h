// FFN activation modes (SiLU, ReLU and StochA(p) as defined in PAPER.md) and their one
// vocabulary of names: every parser and printer of an activation name in the engine, the
// model loaders and the server goes through the functions below.
#ifndef STOCHA_ENGINE_ACTIVATION_H_
#define STOCHA_ENGINE_ACTIVATION_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace stocha {

enum class ActivationKind { kSilu, kRelu, kStochA };

// StochA(p): x >= 0 -> x; x < 0 -> SiLU(x) with probability p, else 0. p = 0 is ReLU.
struct ActivationSpec {
  ActivationKind kind = ActivationKind::kSilu;
  float p = 0.0f;  // only for kStochA, in [0, 1]

  bool operator==(const ActivationSpec& o) const {
    return kind == o.kind && (kind != ActivationKind::kStochA || p == o.p);
  }
  // True when the activation can produce exact zeros worth skipping (ReLU, StochA).
  bool sparse() const { return kind != ActivationKind::kSilu; }
};

// The vocabulary. Kind names are matched case-insensitively, surrounding whitespace ignored:
//   "silu"   SiLU (the gate of a SwiGLU FFN); alias "swiglu"
//   "relu"   ReLU
//   "stocha" StochA(p)
// A full activation adds StochA's p: "stocha:0.3" or "stocha(0.3)" ("stocha=0.3" is also
// read); a bare "stocha" takes the caller's default p. p must be in [0, 1].

// The canonical name of a kind: "silu", "relu" or "stocha".
const char* ActivationKindName(ActivationKind kind);
// The canonical kind names, in enum order (what ModelInfo lists as the modes).
std::vector<std::string> ActivationKindNames();
// A kind name (aliases accepted). The error names the bad value and the accepted names.
absl::StatusOr<ActivationKind> ParseActivationKind(std::string_view name);
// A kind plus an optional p (the wire's Activation message, a config's two fields): p
// defaults to default_p for StochA and is an error for the other kinds.
absl::StatusOr<ActivationSpec> MakeActivation(ActivationKind kind, std::optional<float> p,
                                              float default_p);
// A full activation name: a kind name, optionally with StochA's p.
absl::StatusOr<ActivationSpec> ParseActivation(std::string_view text, float default_p = 0.5f);
// "silu", "relu" or "stocha:P" with the shortest P that parses back to the same float, so
// ParseActivation(ActivationToString(s)) == s.
std::string ActivationToString(const ActivationSpec& spec);

}  // namespace stocha

#endif  // STOCHA_ENGINE_ACTIVATION_H_
