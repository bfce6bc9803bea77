// Dense projections of many token rows through cuBLAS (prefill chunks, large steps).
#ifndef STOCHA_ENGINE_KERNELS_CUDA_GEMM_H_
#define STOCHA_ENGINE_KERNELS_CUDA_GEMM_H_

// A plain header: pointers are device memory. Each calling thread gets one cuBLAS handle
// per device, created at its first GEMM with an explicit 32 MiB workspace (NVIDIA's figure
// for Hopper) and bound to cudaStreamPerThread. The explicit workspace keeps the calls
// capturable into a CUDA graph (cuBLAS allocates nothing during a call); the per-thread
// default stream is a blocking stream, so the GEMMs run in order with the kernels that
// kernels/cuda/ launches on the legacy default stream, and with a graph that captures
// cudaStreamPerThread. Errors name the cuBLAS call (ResourceExhausted for an allocation).
//
// Numerics, unlike RowDots these results depend on T (cuBLAS picks its kernel by shape),
// so a row's value in a chunk differs from its value in a 16-row step within the stated
// tolerance, never bitwise. cuBLAS itself is run-to-run deterministic for one shape on
// one GPU model.
//   F32 weights: exact F32 SGEMM by default (F32 files are the reference models, and
//     quantized files dequantize to F32 at load; TF32 keeps 10 mantissa bits of each
//     operand, about 1e-3 relative, which breaks the 1e-4 bound against upstream run.c).
//     `tf32` = true lets cuBLAS use TF32 tensor cores (the benchmark measures the gain).
//   F16/BF16 weights: cuBLAS needs A and B of one type, so the activations are rounded
//     to the weight's type (a conversion kernel into `half_scratch`), then multiplied on
//     tensor cores with F32 accumulation and an F32 result. This differs from the CPU's
//     oneDNN prefill (engine/kernels/cpu/onednn_matmul.h), which widens the weights to F32
//     and keeps the activations F32: rounding an activation costs 2^-9 relative (BF16) or
//     2^-11 (F16). F16 activations beyond ±65504 are clamped there, not made infinite.

#include <cstdint>

#include "absl/status/status.h"
#include "engine/kernels/cuda/ffn_kernels.h"

namespace stocha::cuda {

// Bytes of `half_scratch` for a GEMM of T rows of k activations against a 16-bit
// weight (0 for F32 weights).
int64_t GemmScratchBytes(int64_t T, int64_t k, DType weight);

// y[t * ldy + r] = x[t] · W[r] for t < T, r < W.rows: x [T][W.cols] F32, W [n][k]
// row-major in its stored type (F32, F16, BF16), y F32.
absl::Status GemmXWt(const float* x, int64_t T, const DeviceMatrix& w, float* y, int64_t ldy,
                     void* half_scratch, bool tf32 = false);

// y[t][:] = Σ_f a[t][f] · wT[f][:] for t < T: a [T][lda] F32 (first wT.rows columns
// used), wT [F][D] row-major (W_downᵀ), y [T][D] F32.
absl::Status GemmXW(const float* a, int64_t T, int64_t lda, const DeviceMatrix& wT, float* y,
                    void* half_scratch, bool tf32 = false);

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_GEMM_H_
