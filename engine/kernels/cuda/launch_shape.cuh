// Grid sizes for the grid-stride kernels of kernels/cuda/ (nvcc-only header).
#ifndef STOCHA_ENGINE_KERNELS_CUDA_LAUNCH_SHAPE_CUH_
#define STOCHA_ENGINE_KERNELS_CUDA_LAUNCH_SHAPE_CUH_

#include <algorithm>
#include <cstdint>

namespace stocha::cuda {

// Blocks for `work_threads` threads of work, capped so a grid-stride loop covers the
// rest: 132 SMs (H200) x 16 resident blocks of 256 threads is well under the cap.
inline int GridFor(int64_t work_threads, int threads_per_block) {
  constexpr int64_t kMaxBlocks = 65535;
  const int64_t blocks = (work_threads + threads_per_block - 1) / threads_per_block;
  return static_cast<int>(std::clamp<int64_t>(blocks, 1, kMaxBlocks));
}

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_LAUNCH_SHAPE_CUH_
