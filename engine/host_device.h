// STOCHA_HD marks a small pure function shared by the CPU code and the CUDA kernels.
#ifndef STOCHA_ENGINE_HOST_DEVICE_H_
#define STOCHA_ENGINE_HOST_DEVICE_H_

// Compiled by nvcc, such a function exists on both sides, so a kernel computes exactly
// what the CPU computes (the StochA draws, for instance) instead of a second copy of it.
#if defined(__CUDACC__)
#define STOCHA_HD __host__ __device__
#else
#define STOCHA_HD
#endif

#endif  // STOCHA_ENGINE_HOST_DEVICE_H_
