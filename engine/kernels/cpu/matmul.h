// Dense matrix products against stored weights: y[T][N] = x[T][K] · W[N][K]ᵀ (+ b).
#ifndef STOCHA_ENGINE_KERNELS_CPU_MATMUL_H_
#define STOCHA_ENGINE_KERNELS_CPU_MATMUL_H_

#include <cstdint>

#include "engine/kernels/cpu/q8_activation.h"
#include "engine/model/tensor.h"

namespace stocha {

// W is [N][K] in F32, F16 or BF16; accumulation is F32. Each output element is one dot
// product with a fixed reduction order (16 interleaved partial sums, then a fixed tree),
// so a row's result never depends on T, the thread count or the instruction set.
// `bias` may be null or an absent Tensor. Multithreaded over N on the
// calling thread's ThreadPool with `threads` (0: ResolveThreads(0)).
// `act` kInt8 with block-typed weights (Int8DotSupported): x is quantized once (Q8Activations)
// and each output is Int8DotRows' value for its input row (int8_dot.h), whatever T, the threads or
// the ISA.
void MatMul(const float* x, int64_t T, const Tensor& w, const Tensor* bias, float* y, int threads,
            ActivationFormat act = ActivationFormat::kF32);

// Scalar reference with the same reduction order (bitwise equal to MatMul).
void MatMulReference(const float* x, int64_t T, const Tensor& w, const Tensor* bias, float* y);

// Row `r` of a 1-D or 2-D tensor converted to F32 (`out` has cols() floats).
void RowToF32(const Tensor& t, int64_t r, float* out);

// y[j] = x · W[idx[j]] for j < count, single-threaded, the same bits as MatMul's rows.
void DotWeightRows(const float* x, const Tensor& w, const int32_t* idx, int64_t count, float* y);
// The same for ActivationFormat::kInt8 (w block-typed; x quantized for w.dtype):
// MatMul's kInt8 bits.
void DotWeightRowsInt8(const Q8Row& x, const Tensor& w, const int32_t* idx, int64_t count,
                       float* y);

// The dot product with stocha's fixed reduction order.
float DotF32(const float* a, const float* b, int64_t n);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_MATMUL_H_
