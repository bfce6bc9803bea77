// Which intrinsic row kernels the process uses (portable clones, AVX2, AVX-512): chosen once
// from CPUID, lowered by the STOCHA_ISA environment variable, switchable for tests/benchmarks.
// Every choice gives the same bits (the canonical order of row_dot.h); only speed differs.
#ifndef STOCHA_ENGINE_KERNELS_CPU_ROW_ISA_H_
#define STOCHA_ENGINE_KERNELS_CPU_ROW_ISA_H_

#include <atomic>
#include <optional>
#include <string_view>

namespace stocha {

// Ordered: a higher level needs every instruction of the lower ones.
enum class RowIsa : int {
  kPortable = 0,  // no intrinsic kernels: the target_clones of the portable loops
  kAvx2 = 1,      // row_kernels_avx2.h: AVX2 + FMA + F16C
  kAvx512 = 2,    // row_kernels_avx512.h: AVX-512 F/BW/VL + FMA + F16C
};

// "portable", "avx2", "avx512".
std::string_view RowIsaName(RowIsa isa);
// The inverse of RowIsaName (also "scalar" for kPortable); nullopt for anything else.
std::optional<RowIsa> ParseRowIsa(std::string_view name);

// The highest level this CPU (and OS: saved vector registers) supports.
RowIsa BestRowIsa();

// The process's starting choice: BestRowIsa(), lowered to STOCHA_ISA when that names a lower
// level (a higher one is clamped; an unknown name is ignored with a line on stderr).
RowIsa DefaultRowIsa();

// Process-wide; read on every row, so relaxed loads of one atomic.
extern std::atomic<int> g_row_isa;
inline RowIsa ActiveRowIsa() {
  return static_cast<RowIsa>(g_row_isa.load(std::memory_order_relaxed));
}
// Sets the level, clamped to BestRowIsa(); returns the level set. Not meant to be changed
// while a step runs (a step would mix kernels; the bits would still be the same).
RowIsa SetRowIsa(RowIsa isa);

// Sets the level for a scope (a test, a benchmark) and restores it.
class ScopedRowIsa {
 public:
  explicit ScopedRowIsa(RowIsa isa) : saved_(ActiveRowIsa()) { SetRowIsa(isa); }
  ~ScopedRowIsa() { SetRowIsa(saved_); }
  ScopedRowIsa(const ScopedRowIsa&) = delete;
  ScopedRowIsa& operator=(const ScopedRowIsa&) = delete;

 private:
  RowIsa saved_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_ROW_ISA_H_
