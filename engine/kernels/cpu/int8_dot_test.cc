// 8-bit activations: the quantization of x against hand-computed blocks; the integer dot at
// every instruction-set level against the scalar reference, bitwise; the reference against
// the F32 dot of the dequantized vectors within a rounding bound; and MatMul / DotRows /
// SparseUpDownRow with ActivationFormat::kInt8 giving one row's bits whatever T, the threads,
// the rows chosen.
#include "engine/kernels/cpu/int8_dot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/ffn_kernels.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/onednn_matmul.h"
#include "engine/kernels/cpu/q8_activation.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/model/quant_blocks.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

constexpr DType kTypes[] = {DType::kQ8_0, DType::kQ4_0};

// Random bytes (every int8 / nibble value, -128 included), then finite F16 scales of either
// sign.
std::string RandomRow(DType dt, int64_t n, std::mt19937& rng) {
  std::string row(DTypeBytes(dt, n), '\0');
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  std::uniform_int_distribution<int> byte(0, 255);
  for (char& c : row) c = static_cast<char>(byte(rng));
  const size_t bb = DTypeBlockBytes(dt);
  for (size_t b = 0; b < row.size() / bb; ++b) {
    const uint16_t d = F32ToF16(scale(rng));
    std::memcpy(&row[b * bb], &d, sizeof d);
  }
  return row;
}

std::vector<float> RandomX(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> g;
  std::vector<float> x(n);
  for (float& v : x) v = g(rng);
  return x;
}

TEST(Q8ActivationsTest, MatchesHandComputedBlocks) {
  std::vector<float> x(96, 0.0f);
  // Block 0: max |x| = 127, so d = 1 and q = round(x), halves away from zero.
  const float b0[] = {127.0f, -127.0f, 0.5f, -0.5f, 1.49f, 2.5f, -2.5f, 3.7f};
  std::copy(std::begin(b0), std::end(b0), x.begin());
  // Block 1: all zero: d = 0, q = 0. Block 2: max |x| = 2.54, d = 0.02 rounded to F16
  // (1.0010...b x 2^-6: 287/1024 of the mantissa step above 1.28 rounds to 0.0200042724609375).
  x[64] = 2.54f, x[65] = -1.0f, x[66] = 0.3f, x[95] = -2.54f;
  Q8Activations a;
  a.Quantize(x.data(), 3, 32);
  const int8_t q0[] = {127, -127, 1, -1, 1, 3, -3, 4};
  const Q8Row r0 = a.row(0), r1 = a.row(1), r2 = a.row(2);
  EXPECT_EQ(r0.d[0], 1.0f);
  for (int j = 0; j < 8; ++j) EXPECT_EQ(r0.q[j], q0[j]) << j;
  for (int j = 8; j < 32; ++j) EXPECT_EQ(r0.q[j], 0) << j;
  EXPECT_EQ(r0.s[0], 127 - 127 + 1 - 1 + 1 + 3 - 3 + 4);  // the block's Σ q
  EXPECT_EQ(r1.d[0], 0.0f);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(r1.q[j], 0) << j;
  EXPECT_EQ(r2.d[0], 0.0200042724609375f);
  EXPECT_EQ(r2.q[0], 127);
  EXPECT_EQ(r2.q[1], -50);
  EXPECT_EQ(r2.q[2], 15);
  EXPECT_EQ(r2.q[31], -127);
  EXPECT_EQ(r2.s[0], 127 - 50 + 15 - 127);
}

// One block of Q8_0 weights -128 (scale 1) against activations -127 (scale 1): 32 · 16256,
// the largest product sum, through every level (it would overflow maddubs' int16 pairs if
// the signs were split the other way round).
float ExtremeDot() {
  std::string row(34, static_cast<char>(-128));
  const uint16_t one = F32ToF16(1.0f);
  std::memcpy(row.data(), &one, sizeof one);
  std::vector<float> x(32, -127.0f);
  Q8Activations a;
  a.Quantize(x.data(), 1, 32);
  const void* rows[1] = {row.data()};
  float y = 0;
  Int8DotRows(a.row(0), rows, 1, DType::kQ8_0, 32, &y);
  return y;
}

// Four Q8_0 rows of `blocks` blocks of -128 (scale 1) against activations -127: the
// extreme sums through the four-rows-per-pass kernels and their tail, exact in F32.
void CheckExtremeRows(int64_t blocks) {
  std::string row(34 * blocks, static_cast<char>(-128));
  const uint16_t one = F32ToF16(1.0f);
  for (int64_t b = 0; b < blocks; ++b) std::memcpy(&row[34 * b], &one, sizeof one);
  std::vector<float> x(32 * blocks, -127.0f);
  Q8Activations a;
  a.Quantize(x.data(), 1, 32 * blocks);
  const void* rows[4] = {row.data(), row.data(), row.data(), row.data()};
  float y[4];
  Int8DotRows(a.row(0), rows, 4, DType::kQ8_0, 32 * blocks, y);
  for (float v : y) EXPECT_EQ(v, static_cast<float>(blocks) * 32 * 128 * 127);
}

// Int8DotRows at the current level against the reference, bitwise: every row count (the
// kernels take four rows per pass: counts below, at and past it), block counts below, at and
// past a group of eight, and each row alone giving its bits from the batch.
void CheckLevel() {
  EXPECT_EQ(ExtremeDot(), 32.0f * 128 * 127);
  CheckExtremeRows(8);
  CheckExtremeRows(19);
  std::mt19937 rng(5);
  for (DType dt : kTypes) {
    for (int64_t blocks : {1, 2, 7, 8, 9, 16, 17, 64, 67}) {
      for (int count : {1, 3, 4, 5, 9}) {
        SCOPED_TRACE(std::string(DTypeName(dt)) + " blocks " + std::to_string(blocks) + " rows " +
                     std::to_string(count));
        const int64_t n = blocks * 32;
        const std::vector<float> x = RandomX(n, rng);
        Q8Activations a;
        a.Quantize(x.data(), 1, n);
        std::vector<std::string> rows(count);
        std::vector<const void*> ptrs(count);
        for (int r = 0; r < count; ++r) {
          rows[r] = RandomRow(dt, n, rng);
          ptrs[r] = rows[r].data();
        }
        std::vector<float> y(count), ref(count);
        Int8DotRows(a.row(0), ptrs.data(), count, dt, n, y.data());
        Int8DotRowsReference(a.row(0), ptrs.data(), count, dt, n, ref.data());
        for (int r = 0; r < count; ++r) {
          EXPECT_EQ(y[r], ref[r]) << "row " << r;
          float alone = 0;
          Int8DotRows(a.row(0), &ptrs[r], 1, dt, n, &alone);
          EXPECT_EQ(alone, y[r]) << "row " << r << " alone";
        }
      }
    }
  }
}

// The comparison above can fail: one block's scale changed (in a full group of eight and in
// the tail) changes the reference's bits, so a kernel reading a wrong scale is caught.
TEST(Int8DotTest, PlantedWrongScaleIsCaught) {
  std::mt19937 rng(9);
  for (DType dt : kTypes) {
    const int64_t n = 17 * 32;
    const std::vector<float> x = RandomX(n, rng);
    Q8Activations a;
    a.Quantize(x.data(), 1, n);
    const std::string row = RandomRow(dt, n, rng);
    const void* p = row.data();
    float y = 0;
    Int8DotRows(a.row(0), &p, 1, dt, n, &y);
    for (int64_t b : {3, 16}) {
      std::string bad = row;
      const uint16_t d = F32ToF16(0.07f);
      std::memcpy(&bad[b * DTypeBlockBytes(dt)], &d, sizeof d);
      const void* q = bad.data();
      float wrong = 0;
      Int8DotRowsReference(a.row(0), &q, 1, dt, n, &wrong);
      EXPECT_NE(wrong, y) << DTypeName(dt) << " block " << b;
    }
  }
}

TEST(Int8DotTest, EveryLevelMatchesReferenceBitwise) {
  {
    ScopedRowIsa portable(RowIsa::kPortable);
    EXPECT_EQ(Int8DotLevel(), "portable");
    CheckLevel();
  }
  if (BestRowIsa() < RowIsa::kAvx2) {
    std::printf("skipping avx2 and vnni: this CPU lacks AVX2\n");
    return;
  }
  {
    ScopedRowIsa avx2(RowIsa::kAvx2);
    EXPECT_EQ(Int8DotLevel(), "avx2");
    CheckLevel();
  }
  if (!Int8VnniSupported()) {
    std::printf("skipping vnni: this CPU lacks AVX-512 VNNI/BW/VL\n");
    return;
  }
  ScopedRowIsa vnni(RowIsa::kAvx512);
  EXPECT_EQ(Int8DotLevel(), "vnni");
  CheckLevel();
}

// The reference computes Σ (dw·w)(dx·q) exactly up to float rounding: against the F32 dot of
// the dequantized vectors (both sides round), |y - ref| <= 2n·2^-24·Σ|w_i·x̂_i|. Also a
// sanity bound on what 8 bits cost against the original x: each x̂_i is within 0.6·d of x_i
// (half a step, plus the F16 rounding of d: at most 127·2^-11·d).
TEST(Int8DotTest, ReferenceNearDequantizedF32Dot) {
  std::mt19937 rng(9);
  for (DType dt : kTypes) {
    const int64_t n = 40 * 32;
    const std::vector<float> x = RandomX(n, rng);
    Q8Activations a;
    a.Quantize(x.data(), 1, n);
    const Q8Row xr = a.row(0);
    std::vector<float> xd(n);
    for (int64_t i = 0; i < n; ++i) xd[i] = xr.d[i / 32] * static_cast<float>(xr.q[i]);
    for (int r = 0; r < 8; ++r) {
      const std::string row = RandomRow(dt, n, rng);
      std::vector<float> w(n);
      DequantizeRow(row.data(), dt, n, w.data());
      const void* p = row.data();
      float y = 0;
      Int8DotRowsReference(xr, &p, 1, dt, n, &y);
      double abs_sum = 0, quant_bound = 0;
      for (int64_t i = 0; i < n; ++i) {
        abs_sum += std::fabs(static_cast<double>(w[i]) * xd[i]);
        quant_bound += 0.6 * xr.d[i / 32] * std::fabs(w[i]);
        EXPECT_LE(std::fabs(xd[i] - x[i]), 0.6 * xr.d[i / 32]) << i;
      }
      const double bound = 2.0 * n * std::ldexp(1.0, -24) * abs_sum;
      EXPECT_LE(std::fabs(y - DotF32(xd.data(), w.data(), n)), bound) << DTypeName(dt);
      EXPECT_LE(std::fabs(y - DotF32(x.data(), w.data(), n)), quant_bound + bound) << DTypeName(dt);
    }
  }
}

// MatMul (T = 1 and T = 6, 1 and 2 threads, and MatMulAuto at a prefill size, which must not
// go to oneDNN), DotWeightRows/DotRows on chosen rows and SparseUpDownRow with kInt8: every
// output is the reference's value for its own input row.
TEST(Int8DotTest, MatMulAndSparseGatherGiveEachRowsReferenceBits) {
  std::mt19937 rng(13);
  for (DType dt : kTypes) {
    SCOPED_TRACE(std::string(DTypeName(dt)));
    const int64_t N = 300, K = 2048, T = 17;  // N·K large enough to thread
    std::string bytes;
    for (int64_t r = 0; r < N; ++r) bytes += RandomRow(dt, K, rng);
    const Tensor w{"w", dt, {N, K}, bytes.data()};
    const std::vector<float> x = RandomX(T * K, rng);
    Q8Activations a;
    a.Quantize(x.data(), T, K);
    std::vector<float> ref(T * N);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t n = 0; n < N; ++n) {
        const void* p = bytes.data() + n * DTypeBytes(dt, K);
        Int8DotRowsReference(a.row(t), &p, 1, dt, K, &ref[t * N + n]);
      }
    }
    for (int threads : {1, 2}) {
      std::vector<float> y1(N), y6(6 * N), y17(T * N);
      MatMul(x.data(), 1, w, nullptr, y1.data(), threads, ActivationFormat::kInt8);
      MatMul(x.data(), 6, w, nullptr, y6.data(), threads, ActivationFormat::kInt8);
      MatMulAuto(x.data(), T, w, nullptr, y17.data(), threads, /*deterministic=*/false,
                 ActivationFormat::kInt8);
      EXPECT_EQ(y1, std::vector<float>(ref.begin(), ref.begin() + N)) << threads;
      EXPECT_EQ(y6, std::vector<float>(ref.begin(), ref.begin() + 6 * N)) << threads;
      EXPECT_EQ(y17, ref) << threads;
      // The F32 path is a different function: 8 bits must have changed something.
      std::vector<float> f32(N);
      MatMul(x.data(), 1, w, nullptr, f32.data(), threads);
      EXPECT_NE(f32, y1);
    }
    const std::vector<int32_t> idx = {299, 0, 5, 6, 7, 20, 1, 150, 151};
    const auto count = static_cast<int64_t>(idx.size());
    std::vector<float> g(count), gref(count);
    DotRows(x.data(), w, idx.data(), count, g.data(), 2, ActivationFormat::kInt8);
    DotRowsReference(x.data(), w, idx.data(), count, gref.data(), ActivationFormat::kInt8);
    for (int64_t j = 0; j < count; ++j) {
      EXPECT_EQ(g[j], ref[idx[j]]) << j;
      EXPECT_EQ(gref[j], ref[idx[j]]) << j;
    }
    // The fused sparse up/down pass: W_up = w ([F = N][D = K]), W_downᵀ = an F32 [N][64].
    std::vector<float> down(N * 64);
    for (float& v : down) v = std::normal_distribution<float>()(rng);
    const Tensor wT{"down_t", DType::kF32, {N, 64}, down.data()};
    std::vector<float> act(N, 0.0f), act_ref;
    for (int32_t f : idx) act[f] = 0.5f + static_cast<float>(f % 3);
    act_ref = act;
    std::vector<int32_t> active = idx;
    std::sort(active.begin(), active.end());
    std::vector<float> out(64), out_ref(64);
    SparseUpDownRow(x.data(), act.data(), w, wT, active.data(), count, out.data(),
                    ActivationFormat::kInt8);
    SparseUpDownRowReference(x.data(), act_ref.data(), w, wT, active.data(), count, out_ref.data(),
                             ActivationFormat::kInt8);
    EXPECT_EQ(act, act_ref);
    EXPECT_EQ(out, out_ref);
    for (int32_t f : idx) EXPECT_EQ(act[f], (0.5f + static_cast<float>(f % 3)) * ref[f]) << f;
  }
}

}  // namespace
}  // namespace stocha
