// The optimized matmul against its scalar reference, bit for bit, on odd shapes.
#include "engine/kernels/cpu/matmul.h"

#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels/cpu/row_isa.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

struct Buffer {
  std::vector<uint16_t> h;
  std::vector<float> f;
  Tensor t;
};

Buffer RandomWeights(DType dt, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.5f);
  Buffer b;
  b.f.resize(n * k);
  for (float& v : b.f) v = nd(rng);
  b.t.dtype = dt;
  b.t.shape = {n, k};
  if (dt == DType::kF32) {
    b.t.data = b.f.data();
  } else {
    b.h.resize(n * k);
    for (size_t i = 0; i < b.h.size(); ++i) {
      b.h[i] = dt == DType::kBF16 ? F32ToBF16(b.f[i]) : F32ToF16(b.f[i]);
    }
    b.t.data = b.h.data();
  }
  return b;
}

class MatMulTest : public ::testing::TestWithParam<std::tuple<DType, int, int, int, int, RowIsa>> {
};

TEST_P(MatMulTest, EqualsReferenceBitwise) {
  const auto [dt, T, N, K, threads, isa] = GetParam();
  if (isa > BestRowIsa())
    GTEST_SKIP() << "this CPU lacks the " << RowIsaName(isa) << " row kernels";
  ScopedRowIsa scoped(isa);
  Buffer w = RandomWeights(dt, N, K, 1 + N * K);
  Buffer bias = RandomWeights(dt, 1, N, 7);
  bias.t.shape = {N};
  std::vector<float> x(static_cast<size_t>(T) * K);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (float& v : x) v = u(rng);
  std::vector<float> y(static_cast<size_t>(T) * N), ref(y.size());
  MatMul(x.data(), T, w.t, &bias.t, y.data(), threads);
  MatMulReference(x.data(), T, w.t, &bias.t, ref.data());
  ASSERT_EQ(0, std::memcmp(y.data(), ref.data(), y.size() * sizeof(float)));
  // And a row's result does not depend on the batch it is in.
  std::vector<float> one(N);
  MatMul(x.data() + (T - 1) * static_cast<size_t>(K), 1, w.t, &bias.t, one.data(), threads);
  ASSERT_EQ(0, std::memcmp(one.data(), y.data() + (T - 1) * static_cast<size_t>(N), N * 4));
  // Against a double-precision dot product, loosely.
  for (int n = 0; n < N; n += 7) {
    double s = 0;
    std::vector<float> row(K);
    RowToF32(w.t, n, row.data());
    for (int k = 0; k < K; ++k) s += static_cast<double>(x[k]) * row[k];
    std::vector<float> brow(N);
    RowToF32(bias.t, 0, brow.data());
    EXPECT_NEAR(y[n], s + brow[n], 1e-3 * std::sqrt(K)) << n;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MatMulTest,
    ::testing::Combine(::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                       ::testing::Values(1, 3, 6), ::testing::Values(1, 17, 130),
                       ::testing::Values(1, 15, 16, 33, 257), ::testing::Values(1, 7),
                       ::testing::Values(RowIsa::kPortable, RowIsa::kAvx2, RowIsa::kAvx512)));

}  // namespace
}  // namespace stocha
