// A model's weights on the GPU, in their stored type, with W_down transposed for the sparse FFN.
#ifndef STOCHA_ENGINE_CUDA_DEVICE_WEIGHTS_H_
#define STOCHA_ENGINE_CUDA_DEVICE_WEIGHTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kernels/cuda/device.h"
#include "engine/kernels/cuda/ffn_kernels.h"
#include "engine/model/model.h"

namespace stocha::cuda {

struct DeviceLayer {
  DeviceMatrix wq, wk, wv, wo, w_gate, w_up, w_down_t;  // w_gate absent (data null) if !gated
  const float* attn_norm = nullptr;
  const float* ffn_norm = nullptr;
  const float* bq = nullptr;  // biases: null when the model has none
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* bo = nullptr;
};

// Thread-safety: immutable after Upload.
class DeviceWeights {
 public:
  // Copies every weight of `model` to the current device: F32, F16 and BF16 matrices as
  // stored; block-typed (quantized) ones dequantized to F32 on the host first (exact, 4
  // bytes per weight); norms and biases as F32; W_down as W_downᵀ [F][D] (the axpy form
  // of the sparse FFN). A tied lm_head shares the embedding's copy. Out of device memory
  // is ResourceExhausted naming the tensor.
  static absl::StatusOr<DeviceWeights> Upload(const Model& model);

  const std::vector<DeviceLayer>& layers() const { return layers_; }
  const DeviceMatrix& embed() const { return embed_; }
  const DeviceMatrix& lm_head() const { return lm_head_; }
  const float* final_norm() const { return final_norm_; }
  const float* inv_freq() const { return inv_freq_; }  // RoPE's per-pair frequencies
  int64_t bytes() const { return bytes_; }

 private:
  std::vector<DeviceBuffer> buffers_;
  std::vector<DeviceLayer> layers_;
  DeviceMatrix embed_, lm_head_;
  const float* final_norm_ = nullptr;
  const float* inv_freq_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_CUDA_DEVICE_WEIGHTS_H_
