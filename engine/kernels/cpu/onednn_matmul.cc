// oneDNN matmul wrappers: strided sub-matrices, weights widened to F32 block by block.
#include "engine/kernels/cpu/onednn_matmul.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "engine/kernels/cpu/int8_dot.h"
#include "engine/kernels/cpu/matmul.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace stocha {
namespace {

using dnnl::memory;

dnnl::engine& CpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// dst[M][N] (leading dim ldd) (+)= src[M][K] (leading dim lds) · wei[K][N], where wei has
// strides (sk, sn). With `accumulate`, the product is added to dst (a sum post-op).
void Gemm(const float* src, int64_t lds, int64_t M, int64_t K, const float* wei, int64_t N,
          int64_t sk, int64_t sn, float* dst, int64_t ldd, bool accumulate) {
  dnnl::engine& eng = CpuEngine();
  const memory::desc src_md({M, K}, memory::data_type::f32, memory::dims{lds, 1});
  const memory::desc wei_md({K, N}, memory::data_type::f32, memory::dims{sk, sn});
  const memory::desc dst_md({M, N}, memory::data_type::f32, memory::dims{ldd, 1});
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  // oneDNN's primitive cache makes re-creating a primitive of a seen shape cheap.
  const dnnl::matmul prim(
      dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_md, dst_md), attr, eng));
  dnnl::stream stream(eng);
  memory src_m(src_md, eng, const_cast<float*>(src));
  memory wei_m(wei_md, eng, const_cast<float*>(wei));
  memory dst_m(dst_md, eng, dst);
  prim.execute(stream, {{DNNL_ARG_SRC, src_m}, {DNNL_ARG_WEIGHTS, wei_m}, {DNNL_ARG_DST, dst_m}});
  stream.wait();
}

constexpr int64_t kRowBlock = 512;

int Threads(int threads) {
  return threads > 0 ? threads : omp_get_max_threads();
}  // weight rows widened per GEMM call

}  // namespace

void OneDnnMatMul(const float* x, int64_t T, const Tensor& w, const Tensor* bias, float* y,
                  int threads) {
  const int64_t N = w.rows(), K = w.cols();
  if (w.dtype == DType::kF32) {
    // W [N][K] row-major is the [K][N] operand with strides (1, K).
    Gemm(x, K, T, K, static_cast<const float*>(w.data), N, 1, K, y, N, false);
  } else {
    std::vector<float> block(static_cast<size_t>(std::min(N, kRowBlock)) * K);
    for (int64_t n0 = 0; n0 < N; n0 += kRowBlock) {
      const int64_t nb = std::min(kRowBlock, N - n0);
#pragma omp parallel for schedule(static) num_threads(Threads(threads))
      for (int64_t r = 0; r < nb; ++r) RowToF32(w, n0 + r, block.data() + r * K);
      Gemm(x, K, T, K, block.data(), nb, 1, K, y + n0, N, false);
    }
  }
  if (bias != nullptr && bias->present()) {
    std::vector<float> b(N);
    RowToF32(*bias, 0, b.data());
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t n = 0; n < N; ++n) y[t * N + n] += b[n];
    }
  }
}

void OneDnnMatMulKN(const float* x, int64_t T, const Tensor& w_kn, float* y, int threads) {
  const int64_t K = w_kn.rows(), N = w_kn.cols();
  if (w_kn.dtype == DType::kF32) {
    Gemm(x, K, T, K, static_cast<const float*>(w_kn.data), N, N, 1, y, N, false);
    return;
  }
  // y = Σ over blocks of K: x[:, k0:k1] · W[k0:k1, :], widening one block at a time.
  std::vector<float> block(static_cast<size_t>(std::min(K, kRowBlock)) * N);
  for (int64_t k0 = 0; k0 < K; k0 += kRowBlock) {
    const int64_t kb = std::min(kRowBlock, K - k0);
#pragma omp parallel for schedule(static) num_threads(Threads(threads))
    for (int64_t r = 0; r < kb; ++r) RowToF32(w_kn, k0 + r, block.data() + r * N);
    Gemm(x + k0, K, T, kb, block.data(), N, N, 1, y, N, /*accumulate=*/k0 > 0);
  }
}

void MatMulAuto(const float* x, int64_t T, const Tensor& w, const Tensor* bias, float* y,
                int threads, bool deterministic, ActivationFormat act) {
  const bool int8 = act == ActivationFormat::kInt8 && Int8DotSupported(w.dtype);
  if (!deterministic && !int8 && T >= kOneDnnMinRows) {
    OneDnnMatMul(x, T, w, bias, y, threads);
  } else {
    MatMul(x, T, w, bias, y, threads, act);
  }
}

}  // namespace stocha
