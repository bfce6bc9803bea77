// Explicit AVX2 + FMA + F16C kernels for one weight row (dot product, axpy) that prefetch
// ahead in a stream of rows. They give the same bits as the portable kernels (row_dot.h
// canonical order); the portable clones are used where the CPU lacks these instructions or
// the switch below is off. Written with intrinsics because GCC's vectorization of the
// portable loops spills accumulators or falls back to scalar code once a prefetch sits in
// the loop (seen in `perf annotate`), and the prefetch is what reaches the memory bandwidth.
#ifndef STOCHA_ENGINE_KERNELS_CPU_ROW_KERNELS_AVX2_H_
#define STOCHA_ENGINE_KERNELS_CPU_ROW_KERNELS_AVX2_H_

#include <atomic>
#include <cstdint>

#include "engine/kernels/cpu/prefetch.h"
#include "engine/model/dtype.h"

namespace stocha {

// Whether this CPU has AVX2, FMA and F16C.
bool Avx2RowKernelsSupported();

// Process-wide switch, on by default where supported. Tests turn it off to check the
// portable path on the same machine; SetAvx2RowKernels(true) where unsupported is ignored.
extern std::atomic<bool> g_avx2_row_kernels;
inline bool Avx2RowKernels() { return g_avx2_row_kernels.load(std::memory_order_relaxed); }
void SetAvx2RowKernels(bool on);

// Sets the switch for a scope (a test, a benchmark) and restores it.
class ScopedAvx2RowKernels {
 public:
  explicit ScopedAvx2RowKernels(bool on) : saved_(Avx2RowKernels()) { SetAvx2RowKernels(on); }
  ~ScopedAvx2RowKernels() { SetAvx2RowKernels(saved_); }
  ScopedAvx2RowKernels(const ScopedAvx2RowKernels&) = delete;
  ScopedAvx2RowKernels& operator=(const ScopedAvx2RowKernels&) = delete;

 private:
  bool saved_;
};

// Up to kMaxDotRows rows of x (ldx floats apart) against one weight row, the row's loads
// shared: y[r] = x[r] · row[0..n), each in the canonical order (16 lanes, pairwise tree,
// tail). `pf`: where to prefetch (nullptr: nowhere).
inline constexpr int kMaxDotRows = 4;
void DotRowMultiAvx2(const float* x, int64_t ldx, int rows, const void* row, DType dt, int64_t n,
                     const RowPrefetch* pf, float* y);

// One input: x · row[0..n).
inline float DotRowAvx2(const float* x, const void* row, DType dt, int64_t n,
                        const RowPrefetch* pf) {
  float y;
  DotRowMultiAvx2(x, n, 1, row, dt, n, pf, &y);
  return y;
}

// o[i] = fma(h, row[i], o[i]) for i < n, prefetching as above.
void AxpyRowAvx2(float h, const void* row, DType dt, int64_t n, float* o, const RowPrefetch* pf);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_ROW_KERNELS_AVX2_H_
