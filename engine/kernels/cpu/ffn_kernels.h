// The sparse FFN kernels: dot products with chosen weight rows, and row-wise axpy.
#ifndef STOCHA_ENGINE_KERNELS_CPU_FFN_KERNELS_H_
#define STOCHA_ENGINE_KERNELS_CPU_FFN_KERNELS_H_

#include <cstdint>

#include "engine/kernels/cpu/q8_activation.h"
#include "engine/model/tensor.h"

namespace stocha {

// y[j] = x · W[idx[j]] for j < count, W [N][K] of any weight type. Each value has exactly the
// bits MatMul gives for output row idx[j] with the same `act` (same Dot; kInt8 quantizes x
// once, as MatMul does per input row), so skipping rows never changes the rows computed.
// Multithreaded over j.
void DotRows(const float* x, const Tensor& w, const int32_t* idx, int64_t count, float* y,
             int threads, ActivationFormat act = ActivationFormat::kF32);
void DotRowsReference(const float* x, const Tensor& w, const int32_t* idx, int64_t count, float* y,
                      ActivationFormat act = ActivationFormat::kF32);

// The down projection in "axpy" form over W_downᵀ ([F][D], one contiguous row per neuron):
//   out[t][:] = Σ_{f in active, ascending, h[t][f] != 0} h[t][f] · wT[f][:]
// with one F32 accumulator per output element, added in ascending f. Dense = every f
// active; since zero terms are skipped in both, dense and sparse give the same bits, and
// a row's result does not depend on the other rows. h is [T][F]; out is [T][D] (written).
// Multithreaded over column blocks of D.
void AxpyRows(const float* h, int64_t T, const Tensor& wT, const int32_t* active, int64_t count,
              float* out, int threads);
void AxpyRowsReference(const float* h, int64_t T, const Tensor& wT, const int32_t* active,
                       int64_t count, float* out);

// One row (T = 1), one thread, gated FFN: for each f in `active` (ascending) with a[f] != 0,
//   a[f] = a[f] · (x · W_up[f])        (DotRows' value)
//   out += a[f] · wT[f]                  (AxpyRows' order; out [D] is written)
// The same bits as DotRows + AxpyRows, but each neuron's up row and W_downᵀ row are read
// back to back, both prefetched a few neurons ahead: one pass over the active set.
void SparseUpDownRow(const float* x, float* a, const Tensor& w_up, const Tensor& wT,
                     const int32_t* active, int64_t count, float* out,
                     ActivationFormat act = ActivationFormat::kF32);
void SparseUpDownRowReference(const float* x, float* a, const Tensor& w_up, const Tensor& wT,
                              const int32_t* active, int64_t count, float* out,
                              ActivationFormat act = ActivationFormat::kF32);

// Indices i in [0, n) with a[i] != 0, ascending; returns how many.
int64_t CollectNonZero(const float* a, int64_t n, int32_t* idx);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_FFN_KERNELS_H_
