// Quantizing activation rows to Q8 blocks with the reference Q8_0 quantizer.
#include "engine/kernels/cpu/q8_activation.h"

#include <cstring>

#include "engine/model/dtype.h"
#include "engine/model/quant_blocks.h"

namespace stocha {

void Q8Activations::Quantize(const float* x, int64_t T, int64_t K) {
  static_assert(kBlock == kQuantBlock, "activation blocks are Q8_0 blocks");
  K_ = K;
  q_.resize(static_cast<size_t>(T * K));
  d_.resize(static_cast<size_t>(T * (K / kBlock)));
  s_.resize(d_.size());
  // One block at a time through the weight quantizer: the same rule, one implementation.
  // Its cost (a division-free pass over T·K floats) is small next to the product's N·K
  // weight reads.
  for (int64_t b = 0; b < T * (K / kBlock); ++b) {
    BlockQ8_0 blk;
    QuantizeRow(x + b * kBlock, kBlock, DType::kQ8_0, &blk);
    std::memcpy(q_.data() + b * kBlock, blk.q, sizeof blk.q);
    d_[b] = F16ToF32(blk.d);
    int32_t sum = 0;
    for (int8_t v : blk.q) sum += v;
    s_[b] = sum;
  }
}

}  // namespace stocha
