// An F32 activation vector quantized to 8 bits per element (ggml's Q8_0 or Q8_K rule), the input
// of the integer dot kernels of int8_dot.h.
#ifndef STOCHA_ENGINE_KERNELS_CPU_Q8_ACTIVATION_H_
#define STOCHA_ENGINE_KERNELS_CPU_Q8_ACTIVATION_H_

#include <cstdint>
#include <vector>

#include "engine/model/dtype.h"

namespace stocha {

// How a product over block-typed weights (Q8_0, Q4_0, the K types) takes its activations
// (F32/F16/BF16 weights always take F32): kF32 is the exact dot of the dequantized row
// (quant_row.h); kInt8 quantizes each input row once per product to Q8Activations and sums integer
// products per block (int8_dot.h), as llama.cpp's CPU backend does.
enum class ActivationFormat { kF32, kInt8 };

// One input row, quantized: for block b of `block` elements, the value of element i is
// d[b] * q[i]. Two block kinds, chosen by the weight type (Q8ActivationBlock):
//   block 32 (Q8_0/Q4_0 weights): ggml's block_q8_0 (ggml/src/ggml-common.h), stored split
//     (the int8 values contiguous, the scales widened to F32, exactly the F16 values) so a
//     kernel loads eight blocks' scales at once. s[b] = Σ q over block b lets a kernel multiply
//     unsigned 4-bit weights (Q4_0's nibbles) and subtract the offset afterwards, as ggml's
//     block_q8_1 sum does. bsums is null.
//   block 256 (K-type weights): ggml's block_q8_K (ggml-common.h), stored split the same way:
//     d[b] is its F32 scale (not rounded to F16; negative where the block's largest-magnitude
//     element is positive), bsums[g] = Σ q over elements 16g..16g+15 (its bsums: the
//     sub-block sums the K types' mins and offsets are taken off with). s is null.
// halves (block 32 only, else null): q again, rearranged for kernels that unpack two Q4_0
// blocks' nibbles with one 256-bit load (int8_dot_avx2.cc). In each full group of eight blocks
// (blocks 8g..8g+7, 256 bytes at 256g), pair i < 4 is blocks 8g+i and 8g+i+4: its 64 bytes are
// elements 0-15 of block 8g+i, elements 0-15 of block 8g+i+4, elements 16-31 of 8g+i, elements
// 16-31 of 8g+i+4 (a Q4_0 block's low nibbles are its elements 0-15, its high ones 16-31).
// Blocks past the last full group are not in it.
struct Q8Row {
  const int8_t* q;                 // [n]
  const float* d;                  // [n / block]
  const int32_t* s;                // [n / 32] (block 32), else null
  const int16_t* bsums;            // [n / 16] (block 256), else null
  int block;                       // 32 or 256
  const int8_t* halves = nullptr;  // [n / 256 * 256] (block 32), else null
};

// Writes Q8Row::halves for the n elements q (n a multiple of 32) to out[n / 256 * 256].
void ArrangeQ8Halves(const int8_t* q, int64_t n, int8_t* out);

// The activation block the integer kernels for weights of type dt read: 256 (Q8_K) for the K
// types, 32 (Q8_0) for the others.
constexpr int Q8ActivationBlock(DType dt) { return IsKQuant(dt) ? 256 : 32; }

// T rows of K elements (K a multiple of Q8ActivationBlock(weights)), quantized for products
// with weights of type `weights`:
//   block 32: as ggml's quantize_row_q8_0_ref (ggml/src/ggml-quants.c) with QuantizeRow
//     (quant_blocks.h): d = max|x| / 127 rounded to F16, q = round(x * (1 / d)) half away
//     from zero (|q| <= 127; a zero block has d = 0, q = 0).
//   block 256: as ggml's quantize_row_q8_K_ref (ggml-quants.c): m = the element of largest
//     magnitude (the first on ties), iscale = -127 / m, q = min(127, nearest(iscale * x))
//     with ties to even (ggml's nearest_int), d = 1 / iscale in F32; a zero block has d = 0,
//     q = 0. m itself gets q = -127, so |q| <= 127.
// Thread-safety: Quantize writes, row() reads; not both at once.
class Q8Activations {
 public:
  void Quantize(const float* x, int64_t T, int64_t K, DType weights);
  Q8Row row(int64_t t) const {
    const int64_t nb = K_ / block_;
    return Q8Row{q_.data() + t * K_,
                 d_.data() + t * nb,
                 s_.empty() ? nullptr : s_.data() + t * nb,
                 bsums_.empty() ? nullptr : bsums_.data() + t * (K_ / 16),
                 block_,
                 halves_.empty() ? nullptr : halves_.data() + t * HalvesPerRow()};
  }

 private:
  void QuantizeQ8_0(const float* x, int64_t blocks);
  void QuantizeQ8_K(const float* x, int64_t blocks);
  int64_t HalvesPerRow() const { return K_ / 256 * 256; }

  int64_t K_ = 0;
  int block_ = 32;
  std::vector<int8_t> q_;
  std::vector<float> d_;
  std::vector<int32_t> s_;
  std::vector<int16_t> bsums_;
  std::vector<int8_t> halves_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_Q8_ACTIVATION_H_
