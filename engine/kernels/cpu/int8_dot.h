// Integer dot products of block-typed weight rows (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) with 8-bit
// activations (q8_activation.h), the decode GEMV and sparse gather of ActivationFormat::kInt8.
//
// Q8_0/Q4_0 (activation blocks of 32). For a row of nb = n / 32 blocks, weight block b with
// scale dw[b] and integers w[b][j] (Q8_0: int8; Q4_0: nibble - 8), activation block b with
// scale dx[b] and q[b][j]:
//   isum[b] = Σ_j w[b][j] · q[b][j]                 exact in int32 (|isum| <= 32·128·127 < 2^24)
//   acc[b % 8] = fma(dw[b] · dx[b], float(isum[b]), acc[b % 8])   b ascending, acc = +0
//   y = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
// (the last line is the tree (j += j+4), (j += j+2), (0 += 1)). dw · dx is exact (two F16
// values), float(isum) is exact, so only the fma and the tree round, in this one order.
//
// Q4_K and Q5_K (ggml-common.h block_q4_K, block_q5_K; activation blocks of 256, Q8_K). For
// super-block b with F16 scales d and dmin, 6-bit sub-block scales sc[j] and mins m[j] (j < 8,
// KScaleMin), unsigned values u[i] (Q4_K: 4 bits; Q5_K: 5, the fifth from qh; element i lies
// in sub-block i / 32; the weight is d·sc·u - dmin·m), activation scale dx = x.d[b], values
// q[i] and sums bsums[g] of q over 16g..16g+15:
//   P[L] = Σ_j sc[j] · Σ_{k<4} u[32j + 4L + k] · q[32j + 4L + k]   L < 8: lane L takes bytes
//          4L..4L+3 of each sub-block, as vpmaddubsw + vpmaddwd and vpdpbusd group them;
//          exact in int32, |P| <= 8·63·4·31·127 < 2^23
//   M[j] = m[j] · (bsums[2j] + bsums[2j+1])         exact, |M| <= 63·32·127 < 2^18
//   a = d · dx, c = dmin · dx                        F32, one rounding each (dx is a full F32)
//   acc[L] = fma(a, float(P[L]), acc[L]), then acc[L] = fma(-c, float(M[L]), acc[L])   L < 8
// b ascending, acc = +0, then the tree above. float(P), float(M) are exact; a, c, the two
// fmas per lane and the tree round, in this one order. Σ_i d·sc·u·dx·q is the a·P part and
// Σ_i dmin·m·dx·q the c·M part: the dot of the dequantized vectors, up to those roundings.
//
// Q6_K (ggml-common.h block_q6_K; Q8_K activations). For super-block b with F16 scale d, int8
// scales sc[g] of each 16 elements and values w[i] = u[i] - 32 in [-32, 31] (the weight is
// d·sc·w):
//   P[L] = Σ_j Σ_{k<4} sc[(32j + 4L + k) / 16] · w[32j + 4L + k] · q[32j + 4L + k]   L < 8:
//          the same lanes; exact in int32, |P| <= 8·4·128·32·127 < 2^24 (the sign of w is
//          moved onto q, as for Q8_0: no offset, no bsums)
//   acc[L] = fma(d · dx, float(P[L]), acc[L])       d · dx rounded once, float(P) exact
// b ascending, acc = +0, then the tree above.
//
// Every instruction-set level gives the same bits as Int8DotRowsReference, and a row's result
// does not depend on which other rows are computed with it (dense = sparse).
// Levels (row_isa.h's, STOCHA_ISA lowers them): portable scalar; AVX2 (maddubs + madd, one
// row at a time); avx512 with AVX512_VNNI (vpdpbusd, or the K types' vpdpwssd, on 256-bit
// vectors, four rows per pass sharing the activation loads, the next rows prefetched: pass
// long row lists, as MatMul does). Only the integer products and their grouping differ by
// level. Q4_0 multiplies the unsigned nibbles (w + 8) and subtracts 8 · Σ q (Q8Row::s) per
// block: the same exact isum. llama.cpp does the same sums with other float orders
// (ggml/src/ggml-cpu/arch/x86/quants.c: ggml_vec_dot_q8_0_q8_0, ggml_vec_dot_q4_0_q8_0,
// ggml_vec_dot_q4_K_q8_K, _q5_K_q8_K and _q6_K_q8_K; the K ones take the mins, and Q6_K's
// offset of 32, off through bsums), so its results are close to these, not equal.
#ifndef STOCHA_ENGINE_KERNELS_CPU_INT8_DOT_H_
#define STOCHA_ENGINE_KERNELS_CPU_INT8_DOT_H_

#include <cstdint>
#include <string_view>

#include "engine/kernels/cpu/q8_activation.h"
#include "engine/model/dtype.h"

namespace stocha {

// The weight types with integer kernels.
constexpr bool Int8DotSupported(DType dt) { return IsQuantized(dt); }

// y[r] = x · rows[r][0..n) for r < count (any count), dt Int8DotSupported, n a multiple of
// DTypeBlockSize(dt), x quantized for dt (x.block == Q8ActivationBlock(dt)).
// Each row's bits are the reference's whatever `count` and the other rows. `after`: the row
// the caller reads after rows[count - 1] (the sparse path's W_downᵀ row after its up row), or
// null; the AVX2 and VNNI kernels prefetch into it as they finish the last row.
void Int8DotRows(const Q8Row& x, const void* const* rows, int count, DType dt, int64_t n, float* y,
                 const void* after = nullptr);

// The scalar reference, written out as the header's formula.
void Int8DotRowsReference(const Q8Row& x, const void* const* rows, int count, DType dt, int64_t n,
                          float* y);

// The kernel level Int8DotRows runs now: "vnni", "avx2" or "portable".
std::string_view Int8DotLevel();

// Whether this CPU has AVX-512 VNNI with BW and VL (the vnni level).
bool Int8VnniSupported();

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_INT8_DOT_H_
