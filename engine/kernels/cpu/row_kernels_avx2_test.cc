// The AVX2 row kernels against scalar std::fma references, bit for bit, at lengths around
// every vector and unroll boundary; and the prefetch plan's addresses.
#include "engine/kernels/cpu/row_kernels_avx2.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels/cpu/row_dot.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

struct Row {
  std::vector<float> f;
  std::vector<uint16_t> h;
  const void* data() const { return h.empty() ? static_cast<const void*>(f.data()) : h.data(); }
};

Row RandomRow(DType dt, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0, 1);
  Row r;
  for (int64_t i = 0; i < n; ++i) {
    const float v = nd(rng);
    if (dt == DType::kF32) r.f.push_back(v);
    if (dt == DType::kBF16) r.h.push_back(F32ToBF16(v));
    if (dt == DType::kF16) r.h.push_back(F32ToF16(v));
  }
  return r;
}

float W(const Row& r, DType dt, int64_t i) {
  if (dt == DType::kF32) return r.f[i];
  return dt == DType::kBF16 ? BF16ToF32(r.h[i]) : F16ToF32(r.h[i]);
}

// The canonical dot product written out: 16 lanes, pairwise tree, tail.
float ScalarDot(const std::vector<float>& x, const Row& r, DType dt, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; ++j) acc[j] = std::fma(x[i + j], W(r, dt, i + j), acc[j]);
  }
  for (int s = 8; s > 0; s /= 2) {
    for (int j = 0; j < s; ++j) acc[j] += acc[j + s];
  }
  float out = acc[0];
  for (; i < n; ++i) out = std::fma(x[i], W(r, dt, i), out);
  return out;
}

bool SameBits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

class RowKernelsAvx2Test : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    if (!Avx2RowKernelsSupported()) GTEST_SKIP() << "this CPU lacks AVX2/FMA/F16C";
  }
};

TEST_P(RowKernelsAvx2Test, DotAndAxpyEqualScalarBitwise) {
  const DType dt = GetParam();
  for (int64_t n : {1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 47, 48, 49, 64, 100, 257, 2048, 2051}) {
    SCOPED_TRACE(n);
    const Row r = RandomRow(dt, n, static_cast<uint32_t>(n));
    const Row next = RandomRow(dt, n, static_cast<uint32_t>(n) + 1000);
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> x(n), o(n);
    for (float& v : x) v = u(rng);
    for (float& v : o) v = u(rng);
    const int64_t es = static_cast<int64_t>(DTypeSize(dt));
    const RowPrefetch pf = PlanPrefetch(r.data(), next.data(), n * es, es);
    const float want = ScalarDot(x, r, dt, n);
    EXPECT_TRUE(SameBits(DotRowAvx2(x.data(), r.data(), dt, n, nullptr), want));
    EXPECT_TRUE(SameBits(DotRowAvx2(x.data(), r.data(), dt, n, &pf), want));
    // The portable inlined kernel (compiled here for the baseline target) agrees too.
    EXPECT_TRUE(SameBits(DotRow(x.data(), r.data(), dt, n), want));

    // Several inputs against the row at once: each input's value is the same.
    std::vector<float> xs(kMaxDotRows * n), ys(kMaxDotRows);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = u(rng);
    for (int rows = 1; rows <= kMaxDotRows; ++rows) {
      for (const RowPrefetch* p : {static_cast<const RowPrefetch*>(nullptr), &pf}) {
        DotRowMultiAvx2(xs.data(), n, rows, r.data(), dt, n, p, ys.data());
        for (int q = 0; q < rows; ++q) {
          const std::vector<float> xq(xs.begin() + q * n, xs.begin() + (q + 1) * n);
          EXPECT_TRUE(SameBits(ys[q], ScalarDot(xq, r, dt, n))) << rows << " " << q;
        }
      }
    }

    const float h = -0.37f;
    std::vector<float> want_o = o, got = o, got_pf = o;
    for (int64_t i = 0; i < n; ++i) want_o[i] = std::fma(h, W(r, dt, i), want_o[i]);
    AxpyRowAvx2(h, r.data(), dt, n, got.data(), nullptr);
    AxpyRowAvx2(h, r.data(), dt, n, got_pf.data(), &pf);
    EXPECT_EQ(std::memcmp(got.data(), want_o.data(), n * 4), 0);
    EXPECT_EQ(std::memcmp(got_pf.data(), want_o.data(), n * 4), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(DTypes, RowKernelsAvx2Test,
                         ::testing::Values(DType::kF32, DType::kBF16, DType::kF16));

TEST(RowPrefetchTest, RunsAFixedDistanceAheadThroughTheNextRow) {
  // A 4 KB row of BF16 followed by a row elsewhere: element i asks for the byte
  // kPrefetchDistance further on in the stream row, next.
  std::vector<uint16_t> row(2048), next(2048);
  const auto addr = [](const void* p) { return reinterpret_cast<uintptr_t>(p); };
  const RowPrefetch p = PlanPrefetch(row.data(), next.data(), 4096, 2);
  for (int64_t i = 0; i < 2048; i += 16) {
    const uintptr_t got = (i < p.split ? p.a : p.b) + static_cast<uintptr_t>(2 * i);
    const int64_t stream = 2 * i + kPrefetchDistance;  // byte offset in row ++ next
    const uintptr_t want =
        stream < 4096 ? addr(row.data()) + stream : addr(next.data()) + stream - 4096;
    ASSERT_EQ(got, want) << i;
  }
  // A row shorter than the distance prefetches the next row, element for element.
  const RowPrefetch s = PlanPrefetch(row.data(), next.data(), 512, 2);
  EXPECT_EQ(s.split, 0);
  EXPECT_EQ(s.b + 2 * 10, addr(next.data()) + 2 * 10);
  // No next row: the stream stays on this row (requests that hit the cache).
  const RowPrefetch last = PlanPrefetch(row.data(), nullptr, 4096, 2);
  EXPECT_EQ(last.b + 2 * 2047, addr(row.data()) + 2 * 2047 + kPrefetchDistance - 4096);
}

TEST(RowKernelsSwitchTest, CannotBeTurnedOnWithoutTheInstructions) {
  ScopedAvx2RowKernels on(true);
  EXPECT_EQ(Avx2RowKernels(), Avx2RowKernelsSupported());
  {
    ScopedAvx2RowKernels off(false);
    EXPECT_FALSE(Avx2RowKernels());
  }
  EXPECT_EQ(Avx2RowKernels(), Avx2RowKernelsSupported());
}

}  // namespace
}  // namespace stocha
