// Weight elements of each stored type as floats, one or eight at a time (nvcc-only header).
#ifndef STOCHA_ENGINE_KERNELS_CUDA_WEIGHT_LOAD_CUH_
#define STOCHA_ENGINE_KERNELS_CUDA_WEIGHT_LOAD_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace stocha::cuda {

// F16 and BF16 widen to F32 exactly, as the CPU's F16ToF32 / BF16ToF32 do.
__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

// Eight consecutive elements from a 16-byte aligned (32 for F32) address, read-only path.
__device__ __forceinline__ void Load8(const float* p, float out[8]) {
  const float4 a = __ldg(reinterpret_cast<const float4*>(p));
  const float4 b = __ldg(reinterpret_cast<const float4*>(p) + 1);
  out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
  out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
}

template <typename H>
__device__ __forceinline__ void Load8Half(const H* p, float out[8]) {
  const uint4 raw = __ldg(reinterpret_cast<const uint4*>(p));
  const H* h = reinterpret_cast<const H*>(&raw);
#pragma unroll
  for (int e = 0; e < 8; ++e) out[e] = ToFloat(h[e]);
}
__device__ __forceinline__ void Load8(const __half* p, float out[8]) { Load8Half(p, out); }
__device__ __forceinline__ void Load8(const __nv_bfloat16* p, float out[8]) { Load8Half(p, out); }

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_WEIGHT_LOAD_CUH_
