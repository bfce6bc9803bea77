// The kernels on the thread pool give the same bits at 1, 2 and 3 threads (docs/ENGINE.md's
// same-bits contract), on shapes big enough that each one really splits.
#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels/cpu/ffn_kernels.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/transposed_weights.h"
#include "engine/model/dtype.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

// Big enough that every kernel goes parallel (>= 2^20 multiply-adds).
struct Bf16Matrix {
  std::vector<uint16_t> h;
  Tensor t;
};

Bf16Matrix Random(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.5f);
  Bf16Matrix m;
  m.h.resize(rows * cols);
  for (uint16_t& v : m.h) v = F32ToBF16(nd(rng));
  m.t.dtype = DType::kBF16;
  m.t.shape = {rows, cols};
  m.t.data = m.h.data();
  return m;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(ThreadedKernelsTest, SameBitsAtOneTwoThreeThreads) {
  constexpr int64_t D = 1040, F = 1500;  // not multiples of the thread counts
  const Bf16Matrix up = Random(F, D, 1), down = Random(D, F, 2);
  const TransposedMatrix down_t = TransposedMatrix::Of(down.t, 1);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t T : {1, 3}) {
    std::vector<float> x(T * D), h(T * F);
    for (float& v : x) v = u(rng);
    for (float& v : h) v = u(rng) > 0.6f ? u(rng) : 0.0f;  // ~20% active
    std::vector<int32_t> active(F);
    const int64_t n = CollectNonZero(h.data(), F, active.data());
    std::vector<float> mm_ref(T * F), dot_ref(n), axpy_ref(T * D);
    MatMulReference(x.data(), T, up.t, nullptr, mm_ref.data());
    DotRowsReference(x.data(), up.t, active.data(), n, dot_ref.data());
    AxpyRowsReference(h.data(), T, down_t.tensor, active.data(), n, axpy_ref.data());
    for (int threads : {1, 2, 3}) {
      std::vector<float> mm(T * F), dot(n), axpy(T * D, -1.0f);
      MatMul(x.data(), T, up.t, nullptr, mm.data(), threads);
      DotRows(x.data(), up.t, active.data(), n, dot.data(), threads);
      AxpyRows(h.data(), T, down_t.tensor, active.data(), n, axpy.data(), threads);
      EXPECT_TRUE(SameBits(mm, mm_ref)) << "MatMul T=" << T << " threads=" << threads;
      EXPECT_TRUE(SameBits(dot, dot_ref)) << "DotRows T=" << T << " threads=" << threads;
      EXPECT_TRUE(SameBits(axpy, axpy_ref)) << "AxpyRows T=" << T << " threads=" << threads;
    }
  }
}

}  // namespace
}  // namespace stocha
