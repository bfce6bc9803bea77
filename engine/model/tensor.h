// A non-owning, immutable view of one weight tensor (row-major, shape[0] outermost).
#ifndef STOCHA_ENGINE_MODEL_TENSOR_H_
#define STOCHA_ENGINE_MODEL_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/dtype.h"

namespace stocha {

// The bytes are owned elsewhere (an mmap'd file or a buffer held by the Model) and are
// never written after load. A default-constructed Tensor (data == nullptr) means "absent".
struct Tensor {
  std::string name;  // name in the source file, for error messages
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // e.g. a linear layer is [out][in]
  const void* data = nullptr;

  bool present() const { return data != nullptr; }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  size_t nbytes() const { return DTypeBytes(dtype, numel()); }
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t cols() const { return shape.size() < 2 ? 1 : shape[1]; }
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_MODEL_TENSOR_H_
