// Large dense products through oneDNN's GEMM (prefill, big batches), F32 accumulation.
#ifndef STOCHA_ENGINE_KERNELS_CPU_ONEDNN_MATMUL_H_
#define STOCHA_ENGINE_KERNELS_CPU_ONEDNN_MATMUL_H_

#include <cstdint>

#include "engine/kernels/cpu/q8_activation.h"
#include "engine/model/tensor.h"

namespace stocha {

// From this many rows on, oneDNN's blocked GEMM beats stocha's row-dot kernel.
inline constexpr int64_t kOneDnnMinRows = 16;

// y[T][N] = x[T][K] · W[N][K]ᵀ (+ bias) with oneDNN's F32 matmul. BF16/F16 weights are
// widened to F32 one block of rows at a time (activations stay F32, so accuracy equals
// the F32 path's; the widening is O(N·K) against O(T·N·K) of compute). The reduction
// order is oneDNN's and depends on T: not for deterministic mode.
// `threads` > 0 bounds the widening loops (oneDNN itself uses the calling thread's
// omp_get_max_threads(), which Engine::Step sets).
void OneDnnMatMul(const float* x, int64_t T, const Tensor& w, const Tensor* bias, float* y,
                  int threads = 0);

// y[T][N] = x[T][K] · W[K][N] for a weight stored [K][N] (W_downᵀ in the FFN).
void OneDnnMatMulKN(const float* x, int64_t T, const Tensor& w_kn, float* y, int threads = 0);

// Picks oneDNN for T >= kOneDnnMinRows unless `deterministic`, else MatMul. With `act` kInt8
// and block-typed weights always MatMul's integer kernels: a sequence's activations are
// quantized the same way in a prefill and in decode.
void MatMulAuto(const float* x, int64_t T, const Tensor& w, const Tensor* bias, float* y,
                int threads, bool deterministic, ActivationFormat act = ActivationFormat::kF32);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_ONEDNN_MATMUL_H_
