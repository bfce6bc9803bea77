// The Q8_0 / Q4_0 row kernels (AVX2 and portable) against the scalar reference: dequantize
// the row exactly, then the canonical F32 dot / axpy. Bitwise.
#include "engine/kernels/cpu/quant_row.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/model/quant_blocks.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

// Random blocks: scales of either sign, every quant value possible.
std::string RandomRow(DType dt, int64_t n, std::mt19937& rng) {
  std::string row(DTypeBytes(dt, n), '\0');
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  std::uniform_int_distribution<int> byte(0, 255);
  const size_t bb = DTypeBytes(dt, 32);
  for (size_t b = 0; b < row.size() / bb; ++b) {
    const uint16_t d = F32ToF16(scale(rng));
    std::memcpy(&row[b * bb], &d, sizeof d);
    for (size_t i = 2; i < bb; ++i) row[b * bb + i] = static_cast<char>(byte(rng));
  }
  return row;
}

std::vector<float> RandomX(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> g;
  std::vector<float> x(n);
  for (float& v : x) v = g(rng);
  return x;
}

void CheckKernels(DType dt) {
  std::mt19937 rng(7);
  for (int64_t blocks : {1, 2, 3, 5, 8, 9, 64}) {
    const int64_t n = blocks * 32;
    SCOPED_TRACE("blocks " + std::to_string(blocks));
    const std::vector<float> x = RandomX(n, rng);
    std::vector<std::string> rows;
    std::vector<float> expect;
    for (int r = 0; r < kMaxQuantDotRows; ++r) {
      rows.push_back(RandomRow(dt, n, rng));
      std::vector<float> w(n);
      DequantizeRow(rows.back().data(), dt, n, w.data());
      expect.push_back(DotF32(x.data(), w.data(), n));
    }
    for (int count = 1; count <= kMaxQuantDotRows; ++count) {
      const void* ptrs[kMaxQuantDotRows];
      for (int r = 0; r < count; ++r) ptrs[r] = rows[r].data();
      float y[kMaxQuantDotRows];
      QuantDotRows(x.data(), ptrs, count, dt, n, y);
      for (int r = 0; r < count; ++r) EXPECT_EQ(y[r], expect[r]) << "count " << count;
    }
    // axpy: o = fma(h, w, o) per element.
    std::vector<float> w(n), o = RandomX(n, rng), ref = o;
    DequantizeRow(rows[0].data(), dt, n, w.data());
    for (int64_t i = 0; i < n; ++i) ref[i] = std::fma(-0.75f, w[i], ref[i]);
    QuantAxpyRow(-0.75f, rows[0].data(), dt, n, o.data());
    EXPECT_EQ(o, ref);
  }
}

TEST(QuantRowTest, PortableMatchesReferenceBitwise) {
  ScopedRowIsa off(RowIsa::kPortable);
  CheckKernels(DType::kQ8_0);
  CheckKernels(DType::kQ4_0);
}

TEST(QuantRowTest, Avx2MatchesReferenceBitwise) {
  if (BestRowIsa() < RowIsa::kAvx2) GTEST_SKIP() << "this CPU lacks AVX2/FMA/F16C";
  ScopedRowIsa on(RowIsa::kAvx2);
  CheckKernels(DType::kQ8_0);
  CheckKernels(DType::kQ4_0);
}

// MatMul (decode and prefill) and the sparse gather on a quantized matrix: the reference
// matmul over the dequantized values, bit for bit, for T = 1 and T = 5.
TEST(QuantRowTest, MatMulAndDotRowsMatchDequantizedReference) {
  std::mt19937 rng(11);
  for (DType dt : {DType::kQ8_0, DType::kQ4_0}) {
    const int64_t N = 37, K = 96;
    std::string bytes;
    for (int64_t r = 0; r < N; ++r) bytes += RandomRow(dt, K, rng);
    const Tensor w{"w", dt, {N, K}, bytes.data()};
    const Tensor wf{"wf", DType::kF32, {N, K}, nullptr};
    std::vector<float> f32(N * K);
    DequantizeRow(bytes.data(), dt, N * K, f32.data());
    Tensor wf32 = wf;
    wf32.data = f32.data();
    for (int64_t T : {1, 5}) {
      const std::vector<float> x = RandomX(T * K, rng);
      std::vector<float> y(T * N), ref(T * N);
      MatMul(x.data(), T, w, nullptr, y.data(), 1);
      MatMulReference(x.data(), T, wf32, nullptr, ref.data());
      EXPECT_EQ(y, ref) << DTypeName(dt) << " T=" << T;
    }
    const std::vector<float> x = RandomX(K, rng);
    const std::vector<int32_t> idx = {36, 0, 5, 6, 7, 20, 1};
    std::vector<float> y(idx.size()), ref(idx.size());
    DotWeightRows(x.data(), w, idx.data(), static_cast<int64_t>(idx.size()), y.data());
    for (size_t j = 0; j < idx.size(); ++j) ref[j] = DotF32(x.data(), f32.data() + idx[j] * K, K);
    EXPECT_EQ(y, ref) << DTypeName(dt);
  }
}

}  // namespace
}  // namespace stocha
