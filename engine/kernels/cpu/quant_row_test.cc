// The block-typed row kernels (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) at every row-kernel level
// (portable, AVX2, AVX-512) against the scalar reference: dequantize the row exactly, then
// the canonical F32 dot / axpy. Bitwise.
#include "engine/kernels/cpu/quant_row.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/ffn_kernels.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/kernels/cpu/transposed_weights.h"
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

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Every row-kernel level; a level the CPU lacks is skipped with its reason.
class QuantRowTest : public ::testing::TestWithParam<RowIsa> {
 protected:
  void SetUp() override {
    if (GetParam() > BestRowIsa()) {
      GTEST_SKIP() << "this CPU lacks the " << RowIsaName(GetParam()) << " row kernels";
    }
  }
};

// QuantDotRows with 1-4 rows and QuantAxpyRow on rows of odd block counts (and one long
// row), against the dequantized row through the canonical F32 kernels.
TEST_P(QuantRowTest, KernelsMatchReferenceBitwise) {
  ScopedRowIsa scoped(GetParam());
  ASSERT_EQ(ActiveRowIsa(), GetParam());
  for (DType dt : kBlockTypes) {
    SCOPED_TRACE(std::string(DTypeName(dt)));
    std::mt19937 rng(7);
    const std::vector<int64_t> counts = IsKQuant(dt) ? std::vector<int64_t>{1, 2, 3, 5, 7, 9}
                                                     : std::vector<int64_t>{1, 2, 3, 5, 9, 33, 65};
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
      // axpy: o = fma(h, w, o) per element, for every row.
      for (int r = 0; r < kMaxQuantDotRows; ++r) {
        std::vector<float> w(n), o = RandomX(n, rng), ref = o;
        DequantizeRow(rows[r].data(), dt, n, w.data());
        const float h = -0.75f + 0.5f * static_cast<float>(r);
        for (int64_t i = 0; i < n; ++i) ref[i] = std::fma(h, w[i], ref[i]);
        QuantAxpyRow(h, rows[r].data(), dt, n, o.data());
        EXPECT_TRUE(SameBits(o, ref)) << "axpy row " << r;
      }
    }
  }
}

// Many rows: MatMul (decode T = 1 and prefill T = 5) and the sparse gather (DotWeightRows)
// on a 37-row quantized matrix equal the reference matmul over the dequantized values.
TEST_P(QuantRowTest, MatMulAndDotRowsMatchDequantizedReference) {
  ScopedRowIsa scoped(GetParam());
  std::mt19937 rng(11);
  for (DType dt : kBlockTypes) {
    const int64_t N = 37, K = IsKQuant(dt) ? 768 : 96;
    std::string bytes;
    for (int64_t r = 0; r < N; ++r) bytes += RandomRow(dt, K, rng);
    const Tensor w{"w", dt, {N, K}, bytes.data()};
    std::vector<float> f32(N * K);
    DequantizeRow(bytes.data(), dt, N * K, f32.data());
    const Tensor wf32{"wf", DType::kF32, {N, K}, f32.data()};
    for (int64_t T : {1, 5}) {
      const std::vector<float> x = RandomX(T * K, rng);
      std::vector<float> y(T * N), ref(T * N);
      MatMul(x.data(), T, w, nullptr, y.data(), 1);
      MatMulReference(x.data(), T, wf32, nullptr, ref.data());
      EXPECT_TRUE(SameBits(y, ref)) << DTypeName(dt) << " T=" << T;
    }
    const std::vector<float> x = RandomX(K, rng);
    const std::vector<int32_t> idx = {36, 0, 5, 6, 7, 20, 1};
    std::vector<float> y(idx.size()), ref(idx.size());
    DotWeightRows(x.data(), w, idx.data(), static_cast<int64_t>(idx.size()), y.data());
    for (size_t j = 0; j < idx.size(); ++j) ref[j] = DotF32(x.data(), f32.data() + idx[j] * K, K);
    EXPECT_TRUE(SameBits(y, ref)) << DTypeName(dt);
  }
}

// The sparse FFN on a quantized layer: W_up rows (the source type) and the Q8_0-reblocked
// W_downᵀ (TransposedMatrix::Of), through AxpyRows and the fused SparseUpDownRow, equal
// their references (each row dequantized, then the F32 kernels).
TEST_P(QuantRowTest, SparseFfnMatchesReference) {
  ScopedRowIsa scoped(GetParam());
  std::mt19937 rng(13);
  for (DType dt : kBlockTypes) {
    SCOPED_TRACE(std::string(DTypeName(dt)));
    const int64_t D = IsKQuant(dt) ? 512 : 96, F = IsKQuant(dt) ? 256 : 160;
    std::string down_bytes, up_bytes;
    for (int64_t r = 0; r < D; ++r) down_bytes += RandomRow(dt, F, rng);
    for (int64_t r = 0; r < F; ++r) up_bytes += RandomRow(dt, D, rng);
    const Tensor down{"w_down", dt, {D, F}, down_bytes.data()};
    const Tensor up{"w_up", dt, {F, D}, up_bytes.data()};
    const TransposedMatrix dT = TransposedMatrix::Of(down, 1);
    ASSERT_EQ(dT.tensor.dtype, DType::kQ8_0);
    std::vector<float> h = RandomX(F, rng);
    std::vector<int32_t> active;
    for (int32_t f = 0; f < F; f += 3) active.push_back(f);  // a third of the neurons
    const auto count = static_cast<int64_t>(active.size());
    std::vector<float> out(D), ref(D);
    AxpyRows(h.data(), 1, dT.tensor, active.data(), count, out.data(), 1);
    AxpyRowsReference(h.data(), 1, dT.tensor, active.data(), count, ref.data());
    EXPECT_TRUE(SameBits(out, ref));
    const std::vector<float> x = RandomX(D, rng);
    std::vector<float> a1 = h, a2 = h, fused(D), fused_ref(D);
    SparseUpDownRow(x.data(), a1.data(), up, dT.tensor, active.data(), count, fused.data());
    SparseUpDownRowReference(x.data(), a2.data(), up, dT.tensor, active.data(), count,
                             fused_ref.data());
    EXPECT_TRUE(SameBits(fused, fused_ref));
    EXPECT_TRUE(SameBits(a1, a2));
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, QuantRowTest,
                         ::testing::Values(RowIsa::kPortable, RowIsa::kAvx2, RowIsa::kAvx512),
                         [](const ::testing::TestParamInfo<RowIsa>& info) {
                           return std::string(RowIsaName(info.param));
                         });

}  // namespace
}  // namespace stocha
