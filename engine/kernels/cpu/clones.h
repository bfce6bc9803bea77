// Runtime dispatch for kernels: one function body compiled for several x86-64 levels.
#ifndef STOCHA_ENGINE_KERNELS_CPU_CLONES_H_
#define STOCHA_ENGINE_KERNELS_CPU_CLONES_H_

#include <cstdint>

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

#endif  // STOCHA_ENGINE_KERNELS_CPU_CLONES_H_
