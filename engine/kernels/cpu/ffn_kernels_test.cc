// Sparse FFN kernels against their scalar references and against the dense path, bitwise.
#include "engine/kernels/cpu/ffn_kernels.h"

#include <cstring>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/kernels/cpu/transposed_weights.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

struct Weights {
  std::vector<float> f;
  std::vector<uint16_t> h;
  Tensor t;
};

Weights Random(DType dt, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0, 1);
  Weights w;
  w.f.resize(rows * cols);
  for (float& v : w.f) v = nd(rng);
  w.t.dtype = dt;
  w.t.shape = {rows, cols};
  if (dt == DType::kF32) {
    w.t.data = w.f.data();
  } else {
    for (float v : w.f) w.h.push_back(dt == DType::kBF16 ? F32ToBF16(v) : F32ToF16(v));
    w.t.data = w.h.data();
  }
  return w;
}

// h [T][F] with the given fraction of exact zeros (row-dependent pattern).
std::vector<float> Activations(int64_t T, int64_t F, double density, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> h(T * F);
  for (float& v : h) v = u(rng) < density ? u(rng) * 2 - 0.5f : 0.0f;
  return h;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

using Param =
    std::tuple<DType, int /*T*/, int /*D*/, int /*F*/, double /*density*/, int /*thr*/, RowIsa>;
class FfnKernelsTest : public ::testing::TestWithParam<Param> {};

TEST_P(FfnKernelsTest, SparseEqualsDenseEqualsReference) {
  const auto [dt, T, D, F, density, threads, isa] = GetParam();
  if (isa > BestRowIsa())
    GTEST_SKIP() << "this CPU lacks the " << RowIsaName(isa) << " row kernels";
  ScopedRowIsa scoped(isa);
  Weights down = Random(dt, D, F, 11);  // stored [D][F]
  TransposedMatrix dT = TransposedMatrix::Of(down.t, threads);
  std::vector<float> h = Activations(T, F, density, 5);
  std::vector<int32_t> all(F), active(F);
  std::iota(all.begin(), all.end(), 0);
  // The union of nonzeros over rows.
  std::vector<char> mask(F, 0);
  for (int t = 0; t < T; ++t) {
    for (int f = 0; f < F; ++f) mask[f] |= h[t * F + f] != 0;
  }
  int64_t n = 0;
  for (int f = 0; f < F; ++f) {
    if (mask[f]) active[n++] = f;
  }
  std::vector<float> dense(T * D), sparse(T * D), ref(T * D), alone(D);
  AxpyRows(h.data(), T, dT.tensor, all.data(), F, dense.data(), threads);
  AxpyRows(h.data(), T, dT.tensor, active.data(), n, sparse.data(), threads);
  AxpyRowsReference(h.data(), T, dT.tensor, active.data(), n, ref.data());
  EXPECT_TRUE(SameBits(dense, sparse));
  EXPECT_TRUE(SameBits(sparse, ref));
  // The last row alone gives the same bits as inside the batch.
  AxpyRows(h.data() + (T - 1) * F, 1, dT.tensor, all.data(), F, alone.data(), threads);
  EXPECT_EQ(0, std::memcmp(alone.data(), dense.data() + (T - 1) * D, D * 4));

  // DotRows on a subset of rows equals MatMul's rows and the reference.
  Weights up = Random(dt, F, D, 12);
  std::vector<float> x(D);
  std::iota(x.begin(), x.end(), -D / 2.0f);
  for (float& v : x) v /= D;
  std::vector<float> full(F), some(n), some_ref(n);
  MatMul(x.data(), 1, up.t, nullptr, full.data(), threads);
  DotRows(x.data(), up.t, active.data(), n, some.data(), threads);
  DotRowsReference(x.data(), up.t, active.data(), n, some_ref.data());
  for (int64_t j = 0; j < n; ++j) {
    ASSERT_EQ(std::memcmp(&some[j], &full[active[j]], 4), 0) << j;
    ASSERT_EQ(std::memcmp(&some[j], &some_ref[j], 4), 0) << j;
  }

  // The fused one-row kernel: the same bits as DotRows then AxpyRows, and as its reference,
  // over the active set of the first row and over every neuron.
  std::vector<int32_t> row_active(F);
  const int64_t m = CollectNonZero(h.data(), F, row_active.data());
  std::vector<float> a0(h.begin(), h.begin() + F), v(m), two_pass(D);
  DotRows(x.data(), up.t, row_active.data(), m, v.data(), 1);
  for (int64_t j = 0; j < m; ++j) a0[row_active[j]] *= v[j];
  AxpyRows(a0.data(), 1, dT.tensor, row_active.data(), m, two_pass.data(), 1);
  for (const auto& [set, count] :
       {std::pair{row_active.data(), m}, std::pair{all.data(), int64_t{F}}}) {
    std::vector<float> a1(h.begin(), h.begin() + F), a2 = a1, fused(D), fused_ref(D);
    SparseUpDownRow(x.data(), a1.data(), up.t, dT.tensor, set, count, fused.data());
    SparseUpDownRowReference(x.data(), a2.data(), up.t, dT.tensor, set, count, fused_ref.data());
    EXPECT_TRUE(SameBits(fused, two_pass)) << count;
    EXPECT_TRUE(SameBits(fused, fused_ref)) << count;
    EXPECT_TRUE(SameBits(a1, a0)) << count;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FfnKernelsTest,
    ::testing::Combine(::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                       ::testing::Values(1, 4), ::testing::Values(7, 64, 300),
                       ::testing::Values(1, 33, 700), ::testing::Values(0.0, 0.1, 0.5, 1.0),
                       ::testing::Values(1, 5),
                       ::testing::Values(RowIsa::kPortable, RowIsa::kAvx2, RowIsa::kAvx512)));

TEST(FfnKernelsTest, OneActiveNeuron) {
  Weights down = Random(DType::kBF16, 64, 100, 3);
  TransposedMatrix dT = TransposedMatrix::Of(down.t, 1);
  std::vector<float> h(100, 0.0f);
  h[37] = 2.0f;
  int32_t idx = 37;
  std::vector<float> out(64);
  AxpyRows(h.data(), 1, dT.tensor, &idx, 1, out.data(), 3);
  for (int d = 0; d < 64; ++d) EXPECT_EQ(out[d], 2.0f * BF16ToF32(down.h[d * 100 + 37]));
}

TEST(FfnKernelsTest, CollectNonZero) {
  std::vector<float> a = {0, 1, 0, -2, 0, 0, 3};
  std::vector<int32_t> idx(a.size());
  ASSERT_EQ(CollectNonZero(a.data(), 7, idx.data()), 3);
  EXPECT_EQ(idx[0], 1);
  EXPECT_EQ(idx[1], 3);
  EXPECT_EQ(idx[2], 6);
}

}  // namespace
}  // namespace stocha
