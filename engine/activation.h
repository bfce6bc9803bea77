// FFN activation modes: SiLU, ReLU and StochA(p) as defined in PAPER.md.
#ifndef STOCHA_ENGINE_ACTIVATION_H_
#define STOCHA_ENGINE_ACTIVATION_H_

#include <string>
#include <string_view>

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

// Parses "silu", "relu", "stocha" (uses default_p), "stocha:0.3" / "stocha(0.3)".
absl::StatusOr<ActivationSpec> ParseActivation(std::string_view text, float default_p = 0.5f);
std::string ActivationToString(const ActivationSpec& spec);

}  // namespace stocha

#endif  // STOCHA_ENGINE_ACTIVATION_H_
