// The row-kernel level: CPUID, STOCHA_ISA, and the process-wide switch.
#include "engine/kernels/cpu/row_isa.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "engine/kernels/cpu/row_kernels_avx2.h"
#include "engine/kernels/cpu/row_kernels_avx512.h"

namespace stocha {

std::string_view RowIsaName(RowIsa isa) {
  switch (isa) {
    case RowIsa::kAvx512:
      return "avx512";
    case RowIsa::kAvx2:
      return "avx2";
    default:
      return "portable";
  }
}

std::optional<RowIsa> ParseRowIsa(std::string_view name) {
  if (name == "portable" || name == "scalar") return RowIsa::kPortable;
  if (name == "avx2") return RowIsa::kAvx2;
  if (name == "avx512") return RowIsa::kAvx512;
  return std::nullopt;
}

RowIsa BestRowIsa() {
  static const RowIsa best = Avx512RowKernelsSupported() ? RowIsa::kAvx512
                             : Avx2RowKernelsSupported() ? RowIsa::kAvx2
                                                         : RowIsa::kPortable;
  return best;
}

RowIsa DefaultRowIsa() {
  const RowIsa best = BestRowIsa();
  const char* env = std::getenv("STOCHA_ISA");
  if (env == nullptr || *env == '\0') return best;
  const std::optional<RowIsa> want = ParseRowIsa(env);
  if (!want.has_value()) {
    std::fprintf(stderr, "stocha: STOCHA_ISA=%s is not portable, avx2 or avx512; using %s\n", env,
                 RowIsaName(best).data());
    return best;
  }
  return std::min(*want, best);
}

std::atomic<int> g_row_isa{static_cast<int>(DefaultRowIsa())};

RowIsa SetRowIsa(RowIsa isa) {
  const RowIsa set = std::min(isa, BestRowIsa());
  g_row_isa.store(static_cast<int>(set), std::memory_order_relaxed);
  return set;
}

}  // namespace stocha
