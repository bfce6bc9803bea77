// STOCHA_AVX512: the target attribute of every AVX-512 kernel, and GCC 12's workaround for it.
#ifndef STOCHA_ENGINE_KERNELS_CPU_AVX512_TARGET_H_
#define STOCHA_ENGINE_KERNELS_CPU_AVX512_TARGET_H_

// Included by the files that hold AVX-512 intrinsics (row, quantized-row and attention
// kernels), so the instruction set they may use is spelled once.
#if defined(__x86_64__)
#include <immintrin.h>
#define STOCHA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's _mm512_undefined_* initialise a variable with itself, which -Wuninitialized
// reports wherever such an intrinsic is inlined (GCC bug 105593, fixed in GCC 13). The
// pragmas hold for the rest of the including file.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

#endif  // STOCHA_ENGINE_KERNELS_CPU_AVX512_TARGET_H_
