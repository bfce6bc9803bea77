// Runtime dispatch for kernels: one function body compiled for several x86-64 levels.
#ifndef STOCHA_ENGINE_KERNELS_CLONES_H_
#define STOCHA_ENGINE_KERNELS_CLONES_H_

#include <cstdint>

#ifndef STOCHA_PREFETCH_AHEAD
#define STOCHA_PREFETCH_AHEAD 1
#endif

// x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA), and the baseline; the loader picks the best
// the CPU has. Kernels use explicit fused multiply-adds (__builtin_fmaf) and the build
// sets -ffp-contract=off, so every clone and the scalar reference round identically.
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define STOCHA_KERNEL_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define STOCHA_KERNEL_CLONES
#endif

// Helpers called from a clone must be inlined into it: an out-of-line copy is compiled for
// the baseline target, where __builtin_fmaf becomes a (slow) libm call.
#define STOCHA_INLINE inline __attribute__((always_inline))

// Asks for `bytes` starting at `p` to be brought into the cache. The kernels read weight
// rows of 2–6 KB, one after another at scattered addresses; the hardware prefetchers do
// not cross 4 KB pages, so each new row would start with a full memory latency. Issued a
// row ahead, the next row's lines are in flight while this row is being computed.
// How many rows ahead the scattered-row kernels prefetch.
inline constexpr int64_t kAhead = STOCHA_PREFETCH_AHEAD;

STOCHA_INLINE void PrefetchBytes(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, /*rw=*/0, /*locality=*/0);
}

#endif  // STOCHA_ENGINE_KERNELS_CLONES_H_
