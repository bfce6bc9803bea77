// cuBLAS GEMMs for many token rows: one handle per thread and device, 16-bit activation rounding.
// cuBLAS is loaded with dlopen on first use, not linked (CublasApi below says why).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <climits>
#include <string>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "engine/kernels/cuda/cuda_status.h"
#include "engine/kernels/cuda/gemm.h"
#include "engine/kernels/cuda/launch_shape.cuh"

namespace stocha::cuda {
namespace {

// NVIDIA's recommended cuBLAS workspace for Hopper (4 MiB suffices before it).
constexpr size_t kWorkspaceBytes = size_t{32} << 20;

// The cuBLAS entry points this file calls, resolved from libcublas.so.13 at first use.
// Why not link it: libcublasLt.so.13 (which libcublas needs) has a 94 KB static TLS block,
// and glibc carves a linked library's static TLS out of every new thread's stack. civetweb
// (prometheus-cpp's metrics listener) starts its threads with a ~100 KB stack, so with
// cuBLAS linked pthread_create fails (EINVAL) and the server's metrics endpoint cannot start
// (docs/CUDA.md). A dlopen'ed library's TLS is allocated per thread on first use instead
// (libcublas does not ask for static TLS: no DF_STATIC_TLS), and a CPU-only server never
// maps cuBLAS at all.
struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  // The exported C function; cublas_api.h adds a C++ overload taking a cudaDataType compute
  // type, so the signature is spelled out.
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const void*, const void*, cudaDataType, int, const void*, cudaDataType,
                            int, const void*, void*, cudaDataType, int, cublasComputeType_t,
                            cublasGemmAlgo_t) = nullptr;
  decltype(&cublasGetStatusName) status_name = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
};

constexpr const char* kCublasLibrary = "libcublas.so.13";

template <typename F>
absl::Status Resolve(void* lib, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  if (*fn != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(kCublasLibrary, " has no ", name, " (a cuBLAS older than 13?)"));
}

absl::StatusOr<CublasApi> LoadCublas() {
  // RTLD_LOCAL: its symbols stay out of the global namespace; never dlclose'd (the handles
  // below outlive every caller).
  void* lib = dlopen(kCublasLibrary, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return absl::FailedPreconditionError(absl::StrCat(
        "cuBLAS (for steps of more than 16 rows on the GPU): cannot load ", kCublasLibrary, ": ",
        why != nullptr ? why : "unknown error",
        "; it comes with the CUDA toolkit (lib64) and in the CUDA image; add its directory to "
        "LD_LIBRARY_PATH"));
  }
  CublasApi api;
  absl::Status s = Resolve(lib, "cublasCreate_v2", &api.create);
  if (s.ok()) s = Resolve(lib, "cublasDestroy_v2", &api.destroy);
  if (s.ok()) s = Resolve(lib, "cublasSetStream_v2", &api.set_stream);
  if (s.ok()) s = Resolve(lib, "cublasSetWorkspace_v2", &api.set_workspace);
  if (s.ok()) s = Resolve(lib, "cublasSetMathMode", &api.set_math_mode);
  if (s.ok()) s = Resolve(lib, "cublasGemmEx", &api.gemm_ex);
  if (s.ok()) s = Resolve(lib, "cublasGetStatusName", &api.status_name);
  if (s.ok()) s = Resolve(lib, "cublasGetStatusString", &api.status_string);
  if (!s.ok()) return s;
  return api;
}

// The process's one CublasApi, loaded by the first caller (a failed load is kept, and
// every later GEMM returns the same error).
const absl::StatusOr<CublasApi>& Cublas() {
  static const absl::StatusOr<CublasApi>* const api = new absl::StatusOr<CublasApi>(LoadCublas());
  return *api;
}

absl::Status CublasStatus(const CublasApi& api, cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string msg =
      absl::StrCat(what, ": ", api.status_name(s), " (", api.status_string(s), ")");
  if (s == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

// One handle and its workspace. Never destroyed: a thread's handles live until the process
// exits, because destroying them at thread or process exit can run after the CUDA runtime
// has unloaded (PyTorch leaks its handles for the same reason). A process holds one per
// (thread that runs GEMMs, device): the server's inference thread, a test's main thread.
struct Handle {
  cublasHandle_t handle = nullptr;
  void* workspace = nullptr;
};

absl::StatusOr<cublasHandle_t> ThreadHandle(const CublasApi& api) {
  thread_local std::unordered_map<int, Handle> handles;
  int device = 0;
  absl::Status s = CudaStatus(cudaGetDevice(&device), "cudaGetDevice");
  if (!s.ok()) return s;
  auto it = handles.find(device);
  if (it != handles.end()) return it->second.handle;
  Handle h;
  s = CudaStatus(cudaMalloc(&h.workspace, kWorkspaceBytes), "cudaMalloc (cuBLAS workspace)");
  if (!s.ok()) return s;
  s = CublasStatus(api, api.create(&h.handle), "cublasCreate");
  // cublasSetStream resets the workspace to cuBLAS's own pool, so the stream goes first.
  if (s.ok()) {
    s = CublasStatus(api, api.set_stream(h.handle, cudaStreamPerThread), "cublasSetStream");
  }
  if (s.ok()) {
    s = CublasStatus(api, api.set_workspace(h.handle, h.workspace, kWorkspaceBytes),
                     "cublasSetWorkspace");
  }
  if (s.ok()) {
    s = CublasStatus(api, api.set_math_mode(h.handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  }
  if (!s.ok()) {
    if (h.handle != nullptr) (void)api.destroy(h.handle);
    (void)cudaFree(h.workspace);
    return s;
  }
  handles.emplace(device, h);
  return h.handle;
}

// F16 has no infinity-free range beyond ±65504: clamp there rather than make an activation
// infinite (BF16 has F32's range, so its rounding is plain).
__device__ __forceinline__ __half FromFloat(float v, __half*) {
  return __float2half_rn(fminf(fmaxf(v, -65504.0f), 65504.0f));
}
__device__ __forceinline__ __nv_bfloat16 FromFloat(float v, __nv_bfloat16*) {
  return __float2bfloat16_rn(v);
}

// out [T][k] (dense) = x [T][ldx] rounded to H, round-to-nearest-even.
template <typename H>
__global__ void RoundRowsKernel(const float* __restrict__ x, int64_t T, int64_t k, int64_t ldx,
                                H* __restrict__ out) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < T * k;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = FromFloat(x[(i / k) * ldx + i % k], static_cast<H*>(nullptr));
  }
}

absl::Status RoundRows(const float* x, int64_t T, int64_t k, int64_t ldx, DType type, void* out) {
  constexpr int kThreads = 256;
  const int blocks = GridFor(T * k, kThreads);
  if (type == DType::kF16) {
    RoundRowsKernel<<<blocks, kThreads, 0, cudaStreamPerThread>>>(x, T, k, ldx,
                                                                  static_cast<__half*>(out));
  } else {
    RoundRowsKernel<<<blocks, kThreads, 0, cudaStreamPerThread>>>(x, T, k, ldx,
                                                                  static_cast<__nv_bfloat16*>(out));
  }
  return LaunchStatus("RoundRowsKernel");
}

absl::StatusOr<cudaDataType_t> CudaType(DType t, const char* op) {
  switch (t) {
    case DType::kF32:
      return CUDA_R_32F;
    case DType::kF16:
      return CUDA_R_16F;
    case DType::kBF16:
      return CUDA_R_16BF;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": weight type ", std::string(DTypeName(t)),
                       " is not on the GPU (F32, F16 and BF16 are; quantized files are "
                       "dequantized at load)"));
  }
}

// The column-major product C[m][n] (ldc) = op(A) · B with B the F32 activations x
// ([n rows][k], leading dimension ldx), rounded into half_scratch first for a 16-bit A.
absl::Status Gemm(const char* op, cublasOperation_t op_a, int64_t m, int64_t n, int64_t k,
                  const DeviceMatrix& a, int64_t lda, const float* x, int64_t ldx, float* c,
                  int64_t ldc, void* half_scratch, bool tf32) {
  absl::StatusOr<cudaDataType_t> type = CudaType(a.dtype, op);
  if (!type.ok()) return type.status();
  for (const int64_t v : {m, n, k, lda, ldx, ldc}) {
    if (v > INT_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": dimension ", v, " exceeds cuBLAS's int range"));
    }
  }
  if (a.dtype != DType::kF32 && half_scratch == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": half_scratch is null for ",
                                                   std::string(DTypeName(a.dtype)),
                                                   " weights (GemmScratchBytes)"));
  }
  if (m <= 0 || n <= 0) return absl::OkStatus();
  const absl::StatusOr<CublasApi>& api = Cublas();
  if (!api.ok()) return api.status();
  absl::StatusOr<cublasHandle_t> handle = ThreadHandle(*api);
  if (!handle.ok()) return handle.status();
  const void* b = x;
  int64_t ldb = ldx;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  if (a.dtype == DType::kF32) {
    if (tf32) compute = CUBLAS_COMPUTE_32F_FAST_TF32;
  } else {
    absl::Status s = RoundRows(x, n, k, ldx, a.dtype, half_scratch);
    if (!s.ok()) return s;
    b = half_scratch;
    ldb = k;
  }
  const float alpha = 1.0f, beta = 0.0f;
  return CublasStatus(*api,
                      api->gemm_ex(*handle, op_a, CUBLAS_OP_N, static_cast<int>(m),
                                   static_cast<int>(n), static_cast<int>(k), &alpha, a.data, *type,
                                   static_cast<int>(lda), b, *type, static_cast<int>(ldb), &beta, c,
                                   CUDA_R_32F, static_cast<int>(ldc), compute, CUBLAS_GEMM_DEFAULT),
                      "cublasGemmEx");
}

}  // namespace

int64_t GemmScratchBytes(int64_t T, int64_t k, DType weight) {
  return weight == DType::kF16 || weight == DType::kBF16 ? T * k * 2 : 0;
}

absl::Status GemmXWt(const float* x, int64_t T, const DeviceMatrix& w, float* y, int64_t ldy,
                     void* half_scratch, bool tf32) {
  if (ldy < w.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("GemmXWt: ldy ", ldy, " is below the weight's ", w.rows, " rows"));
  }
  // Row-major y [T][ldy] is column-major yᶜ [n × T]; W [n][k] row-major is column-major
  // [k × n], so yᶜ = Wᶜᵀ · xᶜ.
  return Gemm("GemmXWt", CUBLAS_OP_T, w.rows, T, w.cols, w, w.cols, x, w.cols, y, ldy, half_scratch,
              tf32);
}

absl::Status GemmXW(const float* a, int64_t T, int64_t lda, const DeviceMatrix& wT, float* y,
                    void* half_scratch, bool tf32) {
  if (lda < wT.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("GemmXW: lda ", lda, " is below W_downᵀ's ", wT.rows, " rows"));
  }
  // wT [F][D] row-major is column-major [D × F]: yᶜ [D × T] = wTᶜ · aᶜ.
  return Gemm("GemmXW", CUBLAS_OP_N, wT.cols, T, wT.rows, wT, wT.cols, a, lda, y, wT.cols,
              half_scratch, tf32);
}

}  // namespace stocha::cuda
