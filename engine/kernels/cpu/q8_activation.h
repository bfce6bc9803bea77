// An F32 activation vector quantized to 8 bits per element (ggml's Q8_0 rule), the input of the
// integer dot kernels of int8_dot.h.
#ifndef STOCHA_ENGINE_KERNELS_CPU_Q8_ACTIVATION_H_
#define STOCHA_ENGINE_KERNELS_CPU_Q8_ACTIVATION_H_

#include <cstdint>
#include <vector>

namespace stocha {

// How a product over Q8_0/Q4_0 weights takes its activations (other weight types always
// take F32): kF32 is the exact dot of the dequantized row (quant_row.h); kInt8 quantizes
// each input row once per product to Q8Activations and sums integer products per block
// (int8_dot.h), as llama.cpp's CPU backend does.
enum class ActivationFormat { kF32, kInt8 };

// One input row, quantized: for block b (elements 32b..32b+31), the value of element i is
// d[b] * q[i]. Blocks of 32 as ggml's block_q8_0 (ggml/src/ggml-common.h), stored split (the
// int8 values contiguous, the scales widened to F32, exactly the F16 values) so a kernel
// loads eight blocks' scales at once.
// s[b] = Σ q over block b lets a kernel multiply unsigned 4-bit weights (Q4_0's nibbles)
// and subtract the offset afterwards, as ggml's block_q8_1 sum does.
struct Q8Row {
  const int8_t* q;   // [n]
  const float* d;    // [n / 32]
  const int32_t* s;  // [n / 32]
};

// T rows of K elements (K a multiple of 32), quantized as ggml's quantize_row_q8_0_ref
// (ggml/src/ggml-quants.c) with QuantizeRow (quant_blocks.h): d = max|x| / 127 rounded to
// F16, q = round(x * (1 / d)) half away from zero (|q| <= 127; a zero block has d = 0, q = 0).
// Thread-safety: Quantize writes, row() reads; not both at once.
class Q8Activations {
 public:
  void Quantize(const float* x, int64_t T, int64_t K);
  Q8Row row(int64_t t) const {
    return Q8Row{q_.data() + t * K_, d_.data() + t * (K_ / kBlock), s_.data() + t * (K_ / kBlock)};
  }

 private:
  static constexpr int64_t kBlock = 32;
  int64_t K_ = 0;
  std::vector<int8_t> q_;
  std::vector<float> d_;
  std::vector<int32_t> s_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_Q8_ACTIVATION_H_
