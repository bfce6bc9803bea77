// The block-typed row kernels (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) (AVX2 and portable) against the scalar
// reference: dequantize the row exactly, then the canonical F32 dot / axpy. Bitwise.
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

constexpr DType kBlockTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K,
                                 DType::kQ6_K};

// Random blocks: random bytes, then finite F16 scales of either sign (d and dmin at bytes
// 0 and 2 of Q4_K/Q5_K, d at the end of Q6_K): every quant value and sub-scale possible.
std::string RandomRow(DType dt, int64_t n, std::mt19937& rng) {
  std::string row(DTypeBytes(dt, n), '\0');
  const float s = IsKQuant(dt) ? 0.002f : 0.05f;  // K: times a 6- or 8-bit sub-scale
  std::uniform_real_distribution<float> scale(-s, s);
  std::uniform_int_distribution<int> byte(0, 255);
  for (char& c : row) c = static_cast<char>(byte(rng));
  const size_t bb = DTypeBlockBytes(dt);
  for (size_t b = 0; b < row.size() / bb; ++b) {
    for (size_t at : dt == DType::kQ6_K ? std::vector<size_t>{bb - 2}
                     : IsKQuant(dt)     ? std::vector<size_t>{0, 2}
                                        : std::vector<size_t>{0}) {
      const uint16_t d = F32ToF16(scale(rng));
      std::memcpy(&row[b * bb + at], &d, sizeof d);
    }
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
  const std::vector<int64_t> counts = IsKQuant(dt) ? std::vector<int64_t>{1, 2, 3, 5, 8}
                                                   : std::vector<int64_t>{1, 2, 3, 5, 8, 9, 64};
  for (int64_t blocks : counts) {
    const int64_t n = blocks * DTypeBlockSize(dt);
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
  for (DType dt : kBlockTypes) {
    SCOPED_TRACE(std::string(DTypeName(dt)));
    CheckKernels(dt);
  }
}

// Every ISA the CPU has (AVX-512 CPUs run the AVX2 quantized kernels through the same
// dispatch): the same bits as the reference.
TEST(QuantRowTest, EveryRowIsaMatchesReferenceBitwise) {
  for (RowIsa isa : {RowIsa::kAvx2, RowIsa::kAvx512}) {
    if (BestRowIsa() < isa) {
      std::printf("skipping %s: this CPU lacks it\n", std::string(RowIsaName(isa)).c_str());
      continue;
    }
    ScopedRowIsa on(isa);
    for (DType dt : kBlockTypes) {
      SCOPED_TRACE(std::string(DTypeName(dt)) + " on " + std::string(RowIsaName(isa)));
      CheckKernels(dt);
    }
  }
}

// MatMul (decode and prefill) and the sparse gather on a quantized matrix: the reference
// matmul over the dequantized values, bit for bit, for T = 1 and T = 5.
TEST(QuantRowTest, MatMulAndDotRowsMatchDequantizedReference) {
  std::mt19937 rng(11);
  for (DType dt : kBlockTypes) {
    const int64_t N = 37, K = IsKQuant(dt) ? 768 : 96;
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
