// The intrinsic row kernels (AVX2, AVX-512) against scalar std::fma references, bit for bit,
// at lengths around every vector and unroll boundary; the prefetch plan's addresses; and the
// ISA switch.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/kernels/cpu/row_dot.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/kernels/cpu/row_kernels_avx2.h"
#include "engine/kernels/cpu/row_kernels_avx512.h"
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

// One level's kernels, called directly (not through the switch).
struct Kernels {
  RowIsa isa;
  bool (*supported)();
  void (*dot_multi)(const float*, int64_t, int, const void*, DType, int64_t, const RowPrefetch*,
                    float*);
  void (*axpy)(float, const void*, DType, int64_t, float*, const RowPrefetch*);
};

Kernels KernelsOf(RowIsa isa) {
  if (isa == RowIsa::kAvx512) {
    return {isa, Avx512RowKernelsSupported, DotRowMultiAvx512, AxpyRowAvx512};
  }
  return {isa, Avx2RowKernelsSupported, DotRowMultiAvx2, AxpyRowAvx2};
}

class RowKernelsTest : public ::testing::TestWithParam<std::tuple<RowIsa, DType>> {
 protected:
  void SetUp() override {
    if (!KernelsOf(std::get<0>(GetParam())).supported()) {
      GTEST_SKIP() << "this CPU lacks the instructions of the "
                   << RowIsaName(std::get<0>(GetParam())) << " row kernels";
    }
  }
};

TEST_P(RowKernelsTest, DotAndAxpyEqualScalarBitwise) {
  // Not a structured binding: C++17 lambdas may not capture one (clang rejects it).
  const RowIsa isa = std::get<0>(GetParam());
  const DType dt = std::get<1>(GetParam());
  const Kernels k = KernelsOf(isa);
  const auto dot = [&](const float* x, const void* row, int64_t n, const RowPrefetch* pf) {
    float y;
    k.dot_multi(x, n, 1, row, dt, n, pf, &y);
    return y;
  };
  for (int64_t n :
       {1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 47, 48, 49, 64, 100, 257, 288, 2048, 2049, 2051}) {
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
    EXPECT_TRUE(SameBits(dot(x.data(), r.data(), n, nullptr), want));
    EXPECT_TRUE(SameBits(dot(x.data(), r.data(), n, &pf), want));
    // The portable inlined kernel (compiled here for the baseline target) agrees too.
    EXPECT_TRUE(SameBits(DotRow(x.data(), r.data(), dt, n), want));

    // Several inputs against the row at once: each input's value is the same.
    std::vector<float> xs(kMaxDotRows * n), ys(kMaxDotRows);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = u(rng);
    for (int rows = 1; rows <= kMaxDotRows; ++rows) {
      for (const RowPrefetch* p : {static_cast<const RowPrefetch*>(nullptr), &pf}) {
        k.dot_multi(xs.data(), n, rows, r.data(), dt, n, p, ys.data());
        for (int q = 0; q < rows; ++q) {
          const std::vector<float> xq(xs.begin() + q * n, xs.begin() + (q + 1) * n);
          EXPECT_TRUE(SameBits(ys[q], ScalarDot(xq, r, dt, n))) << rows << " " << q;
        }
      }
    }

    const float h = -0.37f;
    std::vector<float> want_o = o, got = o, got_pf = o;
    for (int64_t i = 0; i < n; ++i) want_o[i] = std::fma(h, W(r, dt, i), want_o[i]);
    k.axpy(h, r.data(), dt, n, got.data(), nullptr);
    k.axpy(h, r.data(), dt, n, got_pf.data(), &pf);
    EXPECT_EQ(std::memcmp(got.data(), want_o.data(), n * 4), 0);
    EXPECT_EQ(std::memcmp(got_pf.data(), want_o.data(), n * 4), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(IsasAndDTypes, RowKernelsTest,
                         ::testing::Combine(::testing::Values(RowIsa::kAvx2, RowIsa::kAvx512),
                                            ::testing::Values(DType::kF32, DType::kBF16,
                                                              DType::kF16)),
                         [](const auto& info) {
                           return std::string(RowIsaName(std::get<0>(info.param))) + "_" +
                                  std::string(DTypeName(std::get<1>(info.param)));
                         });

// Decode's GEMV kernel: up to kMaxWeightRows weight rows (consecutive or gathered out of order)
// against one input, each row the canonical dot (ScalarDot) bit for bit, at lengths around the
// 16-element step and the tail.
TEST(DotWeightRowsAvx2Test, EachRowEqualsTheCanonicalDotBitwise) {
  if (!Avx2RowKernelsSupported()) GTEST_SKIP() << "this CPU lacks AVX2, FMA or F16C";
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t n : {1, 8, 15, 16, 17, 31, 32, 33, 100, 172, 2048, 2051}) {
      SCOPED_TRACE(std::string(DTypeName(dt)) + " n=" + std::to_string(n));
      // kMaxWeightRows + 1 rows back to back (the kernel prefetches into the rows after its
      // own).
      std::vector<Row> rows;
      Row all;
      for (int r = 0; r < kMaxWeightRows + 1; ++r) {
        rows.push_back(RandomRow(dt, n, static_cast<uint32_t>(31 * n + r)));
        all.f.insert(all.f.end(), rows.back().f.begin(), rows.back().f.end());
        all.h.insert(all.h.end(), rows.back().h.begin(), rows.back().h.end());
      }
      std::mt19937 rng(static_cast<uint32_t>(n));
      std::uniform_real_distribution<float> u(-1, 1);
      std::vector<float> x(n);
      for (float& v : x) v = u(rng);
      const int64_t row_bytes = n * static_cast<int64_t>(DTypeSize(dt));
      for (int count = 1; count <= kMaxWeightRows; ++count) {
        for (int first = 0; first + count <= kMaxWeightRows + 1; ++first) {
          float y[kMaxWeightRows];
          const void* ptrs[kMaxWeightRows];
          const void* next[kMaxWeightRows];
          for (int q = 0; q < count; ++q) {
            // Rows out of order (the sparse path gathers them): slot q reads row first + q,
            // reversed every other count.
            const int row = count % 2 == 0 ? first + count - 1 - q : first + q;
            ptrs[q] = static_cast<const char*>(all.data()) + row * row_bytes;
            next[q] = q == 0 ? nullptr : ptrs[q - 1];
          }
          DotWeightRowsAvx2(x.data(), ptrs, next, count, dt, n, y);
          for (int q = 0; q < count; ++q) {
            const int row = count % 2 == 0 ? first + count - 1 - q : first + q;
            EXPECT_TRUE(SameBits(y[q], ScalarDot(x, rows[row], dt, n)))
                << "count " << count << " row " << row;
          }
        }
      }
    }
  }
}

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

TEST(RowPrefetchTest, APassOfRowsSharesOneLead) {
  // One row keeps the whole distance; R rows split it in 64-byte multiples, never to zero.
  EXPECT_EQ(PassPrefetchDistance(1), kPrefetchDistance);
  for (int r = 1; r <= kMaxWeightRows; ++r) {
    const int64_t d = PassPrefetchDistance(r);
    EXPECT_EQ(d % 64, 0) << r;
    EXPECT_GE(d, 64) << r;
    EXPECT_LE(d * r, kPrefetchDistance) << r;
    EXPECT_GT((d + 64) * r, kPrefetchDistance) << r;  // the largest such multiple
  }
  EXPECT_EQ(PassPrefetchDistance(6), 256);
  EXPECT_EQ(PassPrefetchDistance(100), 64);
  // A plan with a shorter distance asks for the bytes that much further on.
  std::vector<uint16_t> row(2048), next(2048);
  const RowPrefetch p = PlanPrefetch(row.data(), next.data(), 4096, 2, 256);
  EXPECT_EQ(p.a, reinterpret_cast<uintptr_t>(row.data()) + 256);
  EXPECT_EQ(p.split, (4096 - 256) / 2);
  EXPECT_EQ(p.b + 2 * p.split, reinterpret_cast<uintptr_t>(next.data()));
}

TEST(RowIsaTest, CannotBeRaisedAboveTheCpu) {
  const RowIsa best = BestRowIsa();
  EXPECT_EQ(best == RowIsa::kAvx512, Avx512RowKernelsSupported());
  EXPECT_EQ(best >= RowIsa::kAvx2, Avx2RowKernelsSupported());
  ScopedRowIsa top(RowIsa::kAvx512);
  EXPECT_EQ(ActiveRowIsa(), best);
  {
    ScopedRowIsa off(RowIsa::kPortable);
    EXPECT_EQ(ActiveRowIsa(), RowIsa::kPortable);
    EXPECT_FALSE(IntrinsicRowKernels());
    ScopedRowIsa avx2(RowIsa::kAvx2);
    EXPECT_EQ(ActiveRowIsa(), std::min(RowIsa::kAvx2, best));
  }
  EXPECT_EQ(ActiveRowIsa(), best);
}

TEST(RowIsaTest, NamesRoundTrip) {
  for (const RowIsa isa : {RowIsa::kPortable, RowIsa::kAvx2, RowIsa::kAvx512}) {
    EXPECT_EQ(ParseRowIsa(RowIsaName(isa)), isa);
  }
  EXPECT_EQ(ParseRowIsa("scalar"), RowIsa::kPortable);
  EXPECT_EQ(ParseRowIsa("avx-512"), std::nullopt);
}

TEST(RowIsaTest, EnvironmentLowersTheDefault) {
  const char* saved = std::getenv("STOCHA_ISA");
  const std::string restore = saved != nullptr ? saved : "";
  setenv("STOCHA_ISA", "avx2", 1);
  EXPECT_EQ(DefaultRowIsa(), std::min(RowIsa::kAvx2, BestRowIsa()));
  setenv("STOCHA_ISA", "portable", 1);
  EXPECT_EQ(DefaultRowIsa(), RowIsa::kPortable);
  setenv("STOCHA_ISA", "avx512", 1);  // never above the CPU
  EXPECT_EQ(DefaultRowIsa(), BestRowIsa());
  setenv("STOCHA_ISA", "sse9", 1);  // unknown: the best, and a line on stderr
  EXPECT_EQ(DefaultRowIsa(), BestRowIsa());
  if (saved != nullptr) {
    setenv("STOCHA_ISA", restore.c_str(), 1);
  } else {
    unsetenv("STOCHA_ISA");
  }
}

}  // namespace
}  // namespace stocha
