// 8-bit activations: the quantization of x (Q8_0 and Q8_K blocks) against hand-computed blocks;
// the integer dot (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K weights) at every instruction-set level against the
// scalar reference, bitwise; the reference against the F32 dot of the dequantized vectors within a
// rounding bound; and MatMul / DotRows / SparseUpDownRow with ActivationFormat::kInt8 giving
// one row's bits whatever T, the threads, the rows chosen.
#include "engine/kernels/cpu/int8_dot.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
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

constexpr DType kTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Where a block's F16 scales lie: d at 0 (Q4_K/Q5_K: dmin at 2), Q6_K's d last.
size_t ScaleAt(DType dt) { return dt == DType::kQ6_K ? offsetof(BlockQ6_K, d) : 0; }
bool HasMins(DType dt) { return dt == DType::kQ4_K || dt == DType::kQ5_K; }

// Random bytes (every int8 / nibble value, -128 included; the K types: every sub-block scale
// and min, every high bit), then finite F16 scales of either sign (Q4_K/Q5_K: d and dmin).
std::string RandomRow(DType dt, int64_t n, std::mt19937& rng) {
  std::string row(DTypeBytes(dt, n), '\0');
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  std::uniform_int_distribution<int> byte(0, 255);
  for (char& c : row) c = static_cast<char>(byte(rng));
  const size_t bb = DTypeBlockBytes(dt);
  const int scales = HasMins(dt) ? 2 : 1;
  for (size_t b = 0; b < row.size() / bb; ++b) {
    for (int k = 0; k < scales; ++k) {
      const uint16_t d = F32ToF16(scale(rng));
      std::memcpy(&row[b * bb + ScaleAt(dt) + 2 * k], &d, sizeof d);
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

TEST(Q8ActivationsTest, MatchesHandComputedBlocks) {
  std::vector<float> x(96, 0.0f);
  // Block 0: max |x| = 127, so d = 1 and q = round(x), halves away from zero.
  const float b0[] = {127.0f, -127.0f, 0.5f, -0.5f, 1.49f, 2.5f, -2.5f, 3.7f};
  std::copy(std::begin(b0), std::end(b0), x.begin());
  // Block 1: all zero: d = 0, q = 0. Block 2: max |x| = 2.54, d = 0.02 rounded to F16
  // (1.0010...b x 2^-6: 287/1024 of the mantissa step above 1.28 rounds to 0.0200042724609375).
  x[64] = 2.54f, x[65] = -1.0f, x[66] = 0.3f, x[95] = -2.54f;
  Q8Activations a;
  a.Quantize(x.data(), 3, 32, DType::kQ4_0);
  const int8_t q0[] = {127, -127, 1, -1, 1, 3, -3, 4};
  const Q8Row r0 = a.row(0), r1 = a.row(1), r2 = a.row(2);
  EXPECT_EQ(r0.block, 32);
  EXPECT_EQ(r0.bsums, nullptr);
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

// Q8_K (ggml's quantize_row_q8_K_ref): scale -m / 127 from the element m of largest magnitude
// (the first on ties), so m itself is -127 and d is negative when m is; ties round to even
// (where Q8_0 rounds them away from zero); sums of each 16.
TEST(Q8ActivationsTest, Q8KMatchesHandComputedBlocks) {
  std::vector<float> x(3 * 256, 0.0f);
  // Block 0: m = -127 (iscale 1, d 1): q = x rounded, ties to even.
  const float b0[] = {-127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 3.7f, 126.5f};
  std::copy(std::begin(b0), std::end(b0), x.begin());
  x[17] = 127.0f;  // as large as m but later: m stays the first, and this maps to +127
  // Block 1: all zero: d = 0, q = 0. Block 2: m = 127/64 (iscale -64 and d -1/64, exact):
  // q = -64 x, ties to even; -m, as large but later, maps to +127.
  const float b2[] = {1.984375f, -0.5f, 0.1f, 1.0f / 128, 3.0f / 128, -5.0f / 128, -1.984375f};
  std::copy(std::begin(b2), std::end(b2), x.begin() + 512);
  Q8Activations a;
  a.Quantize(x.data(), 1, 768, DType::kQ4_K);
  const Q8Row r = a.row(0);
  EXPECT_EQ(r.block, 256);
  EXPECT_EQ(r.s, nullptr);
  EXPECT_EQ(r.d[0], 1.0f);
  const int8_t q0[] = {-127, 0, 2, 2, 0, -2, 4, 126};
  for (int j = 0; j < 8; ++j) EXPECT_EQ(r.q[j], q0[j]) << j;
  EXPECT_EQ(r.q[17], 127);
  EXPECT_EQ(r.bsums[0], -127 + 2 + 2 - 2 + 4 + 126);
  EXPECT_EQ(r.bsums[1], 127);
  for (int g = 2; g < 16; ++g) EXPECT_EQ(r.bsums[g], 0) << g;
  EXPECT_EQ(r.d[1], 0.0f);
  for (int j = 256; j < 512; ++j) EXPECT_EQ(r.q[j], 0) << j;
  for (int g = 16; g < 32; ++g) EXPECT_EQ(r.bsums[g], 0) << g;
  EXPECT_EQ(r.d[2], -0.015625f);
  // -64 · x: -127, 32, -6.4, -0.5 (tie: 0), -1.5 (tie: -2), 2.5 (tie: 2), 127.
  const int8_t q2[] = {-127, 32, -6, 0, -2, 2, 127};
  for (int j = 0; j < 7; ++j) EXPECT_EQ(r.q[512 + j], q2[j]) << j;
  EXPECT_EQ(r.bsums[32], -127 + 32 - 6 + 0 - 2 + 2 + 127);
}

// Q8Row::halves for two rows of 20 blocks (two full groups and a tail): element e of block b of
// row t quantized to a distinct value, and each position of halves checked against the layout
// q8_activation.h states, written out by hand for a few positions and then for all.
TEST(Q8ActivationsTest, HalvesPairBlocksIAndIPlusFour) {
  constexpr int64_t kBlocks = 20, kN = kBlocks * 32;
  std::vector<float> x(2 * kN);
  // Block max 127 (element 31 = ±127, so d = 1): q = x exactly, |x| <= 127.
  for (int64_t t = 0; t < 2; ++t)
    for (int64_t i = 0; i < kN; ++i)
      x[t * kN + i] = i % 32 == 31 ? 127.0f : (i * 7 + t) % 251 - 125;
  Q8Activations a;
  a.Quantize(x.data(), 2, kN, DType::kQ4_0);
  for (int64_t t = 0; t < 2; ++t) {
    const Q8Row r = a.row(t);
    ASSERT_NE(r.halves, nullptr);
    for (int64_t i = 0; i < kN; ++i) ASSERT_EQ(r.q[i], static_cast<int8_t>(x[t * kN + i]));
    // Hand-picked: group 0 pair 0 starts with block 0's element 0, then block 4's element 0 at
    // 16, block 0's element 16 at 32, block 4's element 16 at 48; pair 3 (at 192) is blocks 3
    // and 7; group 1 (at 256) starts with block 8.
    EXPECT_EQ(r.halves[0], r.q[0]);
    EXPECT_EQ(r.halves[16], r.q[4 * 32]);
    EXPECT_EQ(r.halves[32], r.q[16]);
    EXPECT_EQ(r.halves[48 + 15], r.q[4 * 32 + 31]);
    EXPECT_EQ(r.halves[192 + 16], r.q[7 * 32]);
    EXPECT_EQ(r.halves[256], r.q[8 * 32]);
    for (int64_t g = 0; g < 2; ++g)
      for (int64_t pair = 0; pair < 4; ++pair)
        for (int64_t j = 0; j < 64; ++j) {
          const int64_t block = 8 * g + pair + (j / 16 % 2 == 1 ? 4 : 0);
          const int64_t elem = j % 16 + (j >= 32 ? 16 : 0);
          ASSERT_EQ(r.halves[256 * g + 64 * pair + j], r.q[block * 32 + elem])
              << "row " << t << " group " << g << " pair " << pair << " byte " << j;
        }
  }
  const std::vector<float> z(256, 1.0f);
  a.Quantize(z.data(), 1, 256, DType::kQ4_K);  // block 256: no halves
  EXPECT_EQ(a.row(0).halves, nullptr);
}

// Q8_K on random rows: every q is ggml's rule evaluated with the C library's rounding
// (std::nearbyint, ties to even in the default mode), d is 1 / (-127 / m), and bsums are the
// sums of 16; exact ties (k + 0.5 after scaling) included by construction.
TEST(Q8ActivationsTest, Q8KRandomRowsFollowTheRule) {
  std::mt19937 rng(21);
  std::normal_distribution<float> g;
  std::vector<float> x(8 * 256);
  for (float& v : x) v = g(rng);
  for (int b = 0; b < 8; ++b) {
    float* xb = x.data() + 256 * b;
    xb[0] = b % 2 == 0 ? 15.875f : -15.875f;  // the largest, 127/8: iscale = -/+8 exactly
    // iscale · x = ∓(j - 20) / 2: a tie for every odd j - 20.
    for (int j = 1; j < 40; ++j) xb[j] = static_cast<float>(j - 20) / 16.0f;
  }
  Q8Activations a;
  a.Quantize(x.data(), 2, 1024, DType::kQ6_K);
  for (int t = 0; t < 2; ++t) {
    const Q8Row r = a.row(t);
    for (int b = 0; b < 4; ++b) {
      const float* xb = x.data() + 1024 * t + 256 * b;
      const float iscale = -127.0f / xb[0];
      EXPECT_EQ(r.d[b], 1.0f / iscale);
      for (int j = 0; j < 256; ++j) {
        const float want = std::min(127.0f, std::nearbyint(iscale * xb[j]));
        ASSERT_EQ(r.q[256 * b + j], static_cast<int>(want)) << t << " " << b << " " << j;
      }
      for (int k = 0; k < 16; ++k) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += r.q[256 * b + 16 * k + j];
        EXPECT_EQ(r.bsums[16 * b + k], sum);
      }
    }
  }
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
  a.Quantize(x.data(), 1, 32, DType::kQ8_0);
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
  a.Quantize(x.data(), 1, 32 * blocks, DType::kQ8_0);
  const void* rows[4] = {row.data(), row.data(), row.data(), row.data()};
  float y[4];
  Int8DotRows(a.row(0), rows, 4, DType::kQ8_0, 32 * blocks, y);
  for (float v : y) EXPECT_EQ(v, static_cast<float>(blocks) * 32 * 128 * 127);
}

// Five Q4_K/Q5_K rows of `blocks` blocks of all-ones bytes (every u = 15, Q5_K 31; every
// 6-bit scale and min = 63) with d = dmin = 1, against activations -127 (Q8_K: m = -127,
// d = 1, q = -127): the largest P and M of int8_dot.h, through the four-row pass and the
// single row. Each weight is 63·u - 63 (882, Q5_K 1890), so the dot is -(63·u - 63)·127 per
// element, exact in F32.
void CheckExtremeRowsK(DType dt, int64_t blocks) {
  const auto bb = static_cast<int64_t>(DTypeBlockBytes(dt));
  std::string row(bb * blocks, static_cast<char>(0xff));
  const uint16_t one = F32ToF16(1.0f);
  for (int64_t b = 0; b < blocks; ++b) {
    std::memcpy(&row[bb * b], &one, sizeof one);
    std::memcpy(&row[bb * b + 2], &one, sizeof one);
  }
  std::vector<float> x(256 * blocks, -127.0f);
  Q8Activations a;
  a.Quantize(x.data(), 1, 256 * blocks, dt);
  const void* rows[5] = {row.data(), row.data(), row.data(), row.data(), row.data()};
  float y[5];
  Int8DotRows(a.row(0), rows, 5, dt, 256 * blocks, y);
  const int w = 63 * (dt == DType::kQ5_K ? 31 : 15) - 63;
  for (float v : y) EXPECT_EQ(v, static_cast<float>(blocks) * 256 * -w * 127) << DTypeName(dt);
}

// Five Q6_K rows of `blocks` blocks with every value u = 0 (w = -32), every scale -128 and
// d = 1, against activations -127: the largest |P| of int8_dot.h (8·4·128·32·127 < 2^24).
// Each weight is 4096, so the dot is -4096·127 per element, exact in F32.
void CheckExtremeRowsQ6K(int64_t blocks) {
  const auto bb = static_cast<int64_t>(sizeof(BlockQ6_K));
  std::string row(bb * blocks, '\0');
  const uint16_t one = F32ToF16(1.0f);
  for (int64_t b = 0; b < blocks; ++b) {
    for (int g = 0; g < 16; ++g)
      row[bb * b + offsetof(BlockQ6_K, scales) + g] = static_cast<char>(0x80);
    std::memcpy(&row[bb * b + offsetof(BlockQ6_K, d)], &one, sizeof one);
  }
  std::vector<float> x(256 * blocks, -127.0f);
  Q8Activations a;
  a.Quantize(x.data(), 1, 256 * blocks, DType::kQ6_K);
  const void* rows[5] = {row.data(), row.data(), row.data(), row.data(), row.data()};
  float y[5];
  Int8DotRows(a.row(0), rows, 5, DType::kQ6_K, 256 * blocks, y);
  for (float v : y) EXPECT_EQ(v, static_cast<float>(blocks) * 256 * -4096 * 127);
}

// Int8DotRows at the current level against the reference, bitwise: every row count (the
// kernels take four rows per pass: counts below, at and past it), block counts below, at and
// past a group of eight, and each row alone giving its bits from the batch.
void CheckLevel() {
  EXPECT_EQ(ExtremeDot(), 32.0f * 128 * 127);
  CheckExtremeRows(8);
  CheckExtremeRows(19);
  for (DType dt : {DType::kQ4_K, DType::kQ5_K}) {
    CheckExtremeRowsK(dt, 1);
    CheckExtremeRowsK(dt, 3);
  }
  CheckExtremeRowsQ6K(1);
  CheckExtremeRowsQ6K(3);
  std::mt19937 rng(5);
  for (DType dt : kTypes) {
    for (int64_t blocks : {1, 2, 7, 8, 9, 16, 17, 64, 67}) {
      for (int count : {1, 3, 4, 5, 9}) {
        SCOPED_TRACE(std::string(DTypeName(dt)) + " blocks " + std::to_string(blocks) + " rows " +
                     std::to_string(count));
        const int64_t n = blocks * DTypeBlockSize(dt);
        const std::vector<float> x = RandomX(n, rng);
        Q8Activations a;
        a.Quantize(x.data(), 1, n, dt);
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
// the tail) changes the reference's bits, so a kernel reading a wrong scale is caught; for
// Q4_K/Q5_K also one 6-bit sub-block scale and one min (sub-block 5: bits spread over two
// bytes), what a wrong unpacking of the packed scales would read, and for Q5_K one high bit.
TEST(Int8DotTest, PlantedWrongScaleIsCaught) {
  std::mt19937 rng(9);
  for (DType dt : kTypes) {
    const int64_t n = 17 * DTypeBlockSize(dt);
    const std::vector<float> x = RandomX(n, rng);
    Q8Activations a;
    a.Quantize(x.data(), 1, n, dt);
    const std::string row = RandomRow(dt, n, rng);
    const void* p = row.data();
    float y = 0;
    Int8DotRows(a.row(0), &p, 1, dt, n, &y);
    for (int64_t b : {3, 16}) {
      std::string bad = row;
      const uint16_t d = F32ToF16(0.07f);
      std::memcpy(&bad[b * DTypeBlockBytes(dt) + ScaleAt(dt)], &d, sizeof d);
      const void* q = bad.data();
      float wrong = 0;
      Int8DotRowsReference(a.row(0), &q, 1, dt, n, &wrong);
      EXPECT_NE(wrong, y) << DTypeName(dt) << " block " << b;
    }
    if (dt == DType::kQ6_K) {  // one 16-element scale
      std::string bad = row;
      bad[3 * DTypeBlockBytes(dt) + offsetof(BlockQ6_K, scales) + 11] ^= 0x04;
      const void* q = bad.data();
      float wrong = 0;
      Int8DotRowsReference(a.row(0), &q, 1, dt, n, &wrong);
      EXPECT_NE(wrong, y) << "Q6_K scale 11";
    }
    if (!HasMins(dt)) continue;
    // Scale 5: low nibble of byte 9, top bits 6-7 of byte 1; min 5: high nibble of byte 9.
    for (auto [byte, flip] :
         {std::pair{4 + 9, 0x01}, std::pair{4 + 1, 0x40}, std::pair{4 + 9, 0x10}}) {
      std::string bad = row;
      bad[3 * DTypeBlockBytes(dt) + byte] =
          static_cast<char>(bad[3 * DTypeBlockBytes(dt) + byte] ^ flip);
      const void* q = bad.data();
      float wrong = 0;
      Int8DotRowsReference(a.row(0), &q, 1, dt, n, &wrong);
      EXPECT_NE(wrong, y) << DTypeName(dt) << " scale byte " << byte << " ^ " << flip;
    }
    if (dt != DType::kQ5_K) continue;
    // The high bit of the element of block 3 whose change moves the dot most (largest
    // sub-block scale times |q|: a flip where either is 0 would change nothing).
    const char* blk = row.data() + 3 * DTypeBlockBytes(dt);
    int best = 0, best_v = -1;
    for (int e = 0; e < kQK; ++e) {
      int sc = 0, m = 0;
      KScaleMin(e / 32, reinterpret_cast<const uint8_t*>(blk + offsetof(BlockQ5_K, scales)), &sc,
                &m);
      const int v = sc * std::abs(a.row(0).q[3 * kQK + e]);
      if (v > best_v) {
        best_v = v;
        best = e;
      }
    }
    std::string bad = row;
    bad[3 * DTypeBlockBytes(dt) + offsetof(BlockQ5_K, qh) + best % 32] ^= 1 << (best / 32);
    const void* q = bad.data();
    float wrong = 0;
    Int8DotRowsReference(a.row(0), &q, 1, dt, n, &wrong);
    EXPECT_NE(wrong, y) << "Q5_K high bit";
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

// Q4_K/Q5_K's weights d·sc·u - dmin·m in two parts, from the row itself: dmin zeroed gives
// d·sc·u, d zeroed gives -dmin·m (DequantizeRow of each: no second decoder).
void KParts(const std::string& row, DType dt, int64_t n, std::vector<float>* scaled,
            std::vector<float>* mins) {
  std::string no_min = row, no_scale = row;
  for (size_t b = 0; b < row.size(); b += DTypeBlockBytes(dt)) {
    no_min[b + 2] = no_min[b + 3] = 0;
    no_scale[b] = no_scale[b + 1] = 0;
  }
  scaled->resize(n);
  mins->resize(n);
  DequantizeRow(no_min.data(), dt, n, scaled->data());
  DequantizeRow(no_scale.data(), dt, n, mins->data());
}

// The reference computes Σ (dw·w)(dx·q) exactly up to float rounding: against the F32 dot of
// the dequantized vectors (both sides round), |y - ref| <= 2n·2^-24·Σ|w_i|·|x̂_i|, where for
// Q4_K/Q5_K |w_i| counts both parts (|d·sc·u| + |dmin·m|: the reference sums them apart, so it may
// cancel). Also a sanity bound on what 8 bits cost against the original x: each x̂_i is within
// 0.6·|d| of x_i (half a step, plus the rounding of d: F16 for Q8_0, at most 127·2^-11·d; F32
// for Q8_K).
TEST(Int8DotTest, ReferenceNearDequantizedF32Dot) {
  std::mt19937 rng(9);
  for (DType dt : kTypes) {
    const int64_t n = 40 * DTypeBlockSize(dt), block = Q8ActivationBlock(dt);
    const std::vector<float> x = RandomX(n, rng);
    Q8Activations a;
    a.Quantize(x.data(), 1, n, dt);
    const Q8Row xr = a.row(0);
    std::vector<float> xd(n);
    for (int64_t i = 0; i < n; ++i) xd[i] = xr.d[i / block] * static_cast<float>(xr.q[i]);
    for (int r = 0; r < 8; ++r) {
      const std::string row = RandomRow(dt, n, rng);
      std::vector<float> w(n), scaled, mins;
      DequantizeRow(row.data(), dt, n, w.data());
      if (HasMins(dt)) KParts(row, dt, n, &scaled, &mins);
      const void* p = row.data();
      float y = 0;
      Int8DotRowsReference(xr, &p, 1, dt, n, &y);
      double abs_sum = 0, quant_bound = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double mag =
            HasMins(dt) ? std::fabs(scaled[i]) + std::fabs(mins[i]) : std::fabs(w[i]);
        abs_sum += mag * std::fabs(xd[i]);
        const double step = std::fabs(xr.d[i / block]);
        quant_bound += 0.6 * step * std::fabs(w[i]);
        EXPECT_LE(std::fabs(xd[i] - x[i]), 0.6 * step) << i;
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
    a.Quantize(x.data(), T, K, dt);
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
