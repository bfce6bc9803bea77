// Q4_K / Q5_K / Q6_K blocks written byte by byte against values computed by hand, random
// blocks against the per-element formulas evaluated in double, and the quantizers (layouts:
// ggml/src/ggml-common.h block_q4_K/_q5_K/_q6_K; values: ggml/src/ggml-quants.c
// dequantize_row_q4_K/_q5_K/_q6_K).
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/model/quant_blocks.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

std::vector<float> Dequantize(const void* bytes, DType dt, int64_t n) {
  std::vector<float> out(n);
  DequantizeRow(bytes, dt, n, out.data());
  return out;
}

TEST(KQuantBlocksTest, SizesAndNamesAreGgmls) {
  EXPECT_EQ(DTypeBlockSize(DType::kQ4_K), 256);
  EXPECT_EQ(DTypeBlockSize(DType::kQ6_K), 256);
  EXPECT_EQ(DTypeBytes(DType::kQ4_K, 512), 288u);
  EXPECT_EQ(DTypeBytes(DType::kQ5_K, 512), 352u);
  EXPECT_EQ(DTypeBytes(DType::kQ6_K, 512), 420u);
  EXPECT_EQ(DTypeName(DType::kQ5_K), "Q5_K");
  EXPECT_TRUE(IsQuantized(DType::kQ6_K));
  EXPECT_FALSE(IsKQuant(DType::kQ8_0));
}

TEST(KQuantBlocksTest, DequantizesHandWrittenQ4_KBlock) {
  // d = F16 0x3800 = 0.5, dmin = F16 0x3400 = 0.25.
  // Sub-block 0: sc 3 (byte 0 low 6 bits), m 2 (byte 4): d1 = 1.5, m1 = 0.5.
  // Sub-block 1: sc 63 (byte 1), m 1 (byte 5): d1 = 31.5, m1 = 0.25.
  // Sub-block 4: sc 37 = 0b10'0101: low nibble 5 in byte 8, top bits 2 in byte 0 bits 6-7;
  //              m 20 = 0b01'0100: high nibble 4 in byte 8, top bits 1 in byte 4 bits 6-7.
  //              d1 = 18.5, m1 = 5.
  BlockQ4_K b{};
  b.d = 0x3800, b.dmin = 0x3400;
  b.scales[0] = 3 | (2 << 6), b.scales[4] = 2 | (1 << 6);
  b.scales[1] = 63, b.scales[5] = 1;
  b.scales[8] = 0x45;
  b.qs[0] = 0x9F;   // element 0: q 15 (sub-block 0); element 32: q 9 (sub-block 1)
  b.qs[64] = 0x07;  // element 128: q 7 (sub-block 4); element 160: q 0 (sub-block 5)
  const std::vector<float> x = Dequantize(&b, DType::kQ4_K, 256);
  EXPECT_EQ(x[0], 22.0f);     // 1.5 * 15 - 0.5
  EXPECT_EQ(x[1], -0.5f);     // 1.5 * 0 - 0.5
  EXPECT_EQ(x[32], 283.25f);  // 31.5 * 9 - 0.25
  EXPECT_EQ(x[33], -0.25f);
  EXPECT_EQ(x[128], 124.5f);  // 18.5 * 7 - 5
  EXPECT_EQ(x[129], -5.0f);
  EXPECT_EQ(x[160], 0.0f);  // sub-block 5: sc 0, m 0
  EXPECT_EQ(x[64], 0.0f);   // sub-block 2: sc 0, m 0
}

TEST(KQuantBlocksTest, DequantizesHandWrittenQ5_KBlockAndRoundsOnce) {
  // d = 1, dmin = F16 0x0001 = 2^-24 (subnormal).
  // Sub-block 0: sc 1, m 3: x = q - 3 * 2^-24, rounded once to F32.
  // Sub-block 1: sc 2, m 0. Sub-block 6: sc 5 (byte 10 low nibble), m 0.
  BlockQ5_K b{};
  b.d = 0x3C00, b.dmin = 0x0001;
  b.scales[0] = 1, b.scales[4] = 3, b.scales[1] = 2, b.scales[10] = 0x05;
  b.qs[0] = 0x31, b.qh[0] = 0x03;  // element 0: 1 + 16; element 32: 3 + 16
  b.qs[1] = 0x02;                  // element 1: 2
  b.qs[2] = 0x04;                  // element 2: 4
  b.qh[2] = 0x40;                  // element 194 (sub-block 6, low nibble 0): 16
  const std::vector<float> x = Dequantize(&b, DType::kQ5_K, 256);
  EXPECT_EQ(x[0], 17.0f);  // 17 - 3 * 2^-24: below half an ulp (2^-20) of 17
  // 2 - 1.5 * 2^-23 lies exactly between 2 - 2^-23 (odd mantissa) and 2 - 2^-22 (even):
  // ties to even.
  EXPECT_EQ(x[1], 2.0f - std::ldexp(1.0f, -22));
  // 4 - 3 * 2^-24 is 0.75 of an ulp (2^-22, below 4) under 4: nearest is 4 - 2^-22.
  EXPECT_EQ(x[2], 4.0f - std::ldexp(1.0f, -22));
  EXPECT_EQ(x[3], -std::ldexp(3.0f, -24));  // 0 - m1: exact
  EXPECT_EQ(x[32], 38.0f);                  // 2 * 19
  EXPECT_EQ(x[194], 80.0f);                 // 5 * 16
  EXPECT_EQ(x[195], 0.0f);
  EXPECT_EQ(x[64], 0.0f);
}

TEST(KQuantBlocksTest, DequantizesHandWrittenQ6_KBlock) {
  // d = 0.5; x = d * sc * (6-bit q - 32).
  BlockQ6_K b{};
  b.d = 0x3800;
  b.scales[0] = -3, b.scales[1] = 127, b.scales[2] = 10, b.scales[4] = 7, b.scales[15] = -128;
  b.ql[0] = 0x5F, b.qh[0] = 0x23;    // element 0: 15 | 3 << 4 = 63 -> 31; element 32: qh bits
                                     // 2-3 = 0, ql[32] = 0 -> -32; element 64: 5 | 2 << 4 -> 5
  b.ql[16] = 0x01, b.qh[16] = 0x02;  // element 16 (scale 1): 1 | 2 << 4 = 33 -> 1
  const std::vector<float> x = Dequantize(&b, DType::kQ6_K, 256);
  EXPECT_EQ(x[0], -46.5f);     // 0.5 * -3 * 31
  EXPECT_EQ(x[32], -160.0f);   // 0.5 * 10 * -32
  EXPECT_EQ(x[64], 17.5f);     // 0.5 * 7 * 5
  EXPECT_EQ(x[16], 63.5f);     // 0.5 * 127 * 1
  EXPECT_EQ(x[17], -2032.0f);  // 0.5 * 127 * -32
  EXPECT_EQ(x[255], 2048.0f);  // half 1, group 3, l 31: scale 15 = -128, q -32
  EXPECT_EQ(x[96], 0.0f);      // scale 6 = 0
}

// Random bytes with finite scales are valid blocks: each element equals ggml's formula
// evaluated in double and rounded to F32 (products exact in both; one rounding).
TEST(KQuantBlocksTest, RandomBlocksMatchFormulasInDouble) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.01f, 0.01f);
  for (DType dt : {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    SCOPED_TRACE(std::string(DTypeName(dt)));
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<uint8_t> blk(DTypeBlockBytes(dt));
      for (uint8_t& v : blk) v = static_cast<uint8_t>(byte(rng));
      const uint16_t d = F32ToF16(scale(rng)), dmin = F32ToF16(scale(rng));
      const size_t d_at = dt == DType::kQ6_K ? offsetof(BlockQ6_K, d) : 0;
      std::memcpy(blk.data() + d_at, &d, 2);
      if (dt != DType::kQ6_K) std::memcpy(blk.data() + 2, &dmin, 2);
      const std::vector<float> x = Dequantize(blk.data(), dt, 256);
      const uint8_t* p = blk.data();
      for (int i = 0; i < 256; ++i) {
        double expect = 0;
        if (dt == DType::kQ6_K) {
          const int n = i / 128, k = (i % 128) / 32, l = i % 32;
          const int ql = p[64 * n + l + 32 * (k % 2)] >> (4 * (k / 2)) & 15;
          const int qh = p[128 + 32 * n + l] >> (2 * k) & 3;
          const auto sc = static_cast<int8_t>(p[192 + 8 * n + l / 16 + 2 * k]);
          expect = static_cast<double>(F16ToF32(d)) * sc * ((ql | qh << 4) - 32);
        } else {
          const int j = i / 32, l = i % 32;
          const uint8_t* s = p + 4;
          const int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
          const int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4;
          const uint8_t* qs = p + (dt == DType::kQ5_K ? 48 : 16);
          int q = qs[32 * (j / 2) + l] >> (4 * (j % 2)) & 15;
          if (dt == DType::kQ5_K) q += (p[16 + l] >> j & 1) * 16;
          expect =
              static_cast<double>(F16ToF32(d)) * sc * q - static_cast<double>(F16ToF32(dmin)) * m;
        }
        ASSERT_EQ(x[i], static_cast<float>(expect)) << "element " << i;
      }
    }
  }
}

TEST(KQuantBlocksTest, QuantizesQ4_KRampByHand) {
  // Every sub-block holds 0..15 twice: min 0, scale 1, so all 6-bit scales are 63 and
  // mins 0; d = F16(1/63) = 2^-6 * (1 + 16/1024) = 0.015869140625 (bits 0x2410), dmin 0.
  // d1 = 63 d = 0.999755859375, and nearest(x / d1) = x.
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i % 16);
  BlockQ4_K b;
  QuantizeRow(x.data(), 256, DType::kQ4_K, &b);
  EXPECT_EQ(b.d, 0x2410);
  EXPECT_EQ(b.dmin, 0);
  for (int j = 0; j < 4; ++j) EXPECT_EQ(b.scales[j], 0xFF);  // 63 | (63 >> 4) << 6
  for (int j = 4; j < 8; ++j) EXPECT_EQ(b.scales[j], 0);
  for (int j = 8; j < 12; ++j) EXPECT_EQ(b.scales[j], 0x0F);
  for (int l = 0; l < 128; ++l) EXPECT_EQ(b.qs[l], 0x11 * (l % 16)) << l;
  const std::vector<float> y = Dequantize(&b, DType::kQ4_K, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.999755859375f * static_cast<float>(i % 16));
}

TEST(KQuantBlocksTest, QuantizersRoundTripWithinTheirStep) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g;
  std::vector<float> x(1024);
  for (float& v : x) v = g(rng);
  double prev = 1e9;
  for (DType dt : {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    std::vector<uint8_t> q(DTypeBytes(dt, 1024));
    QuantizeRow(x.data(), 1024, dt, q.data());
    const std::vector<float> y = Dequantize(q.data(), dt, 1024);
    double se = 0, sx = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      se += (y[i] - x[i]) * static_cast<double>(y[i] - x[i]);
      sx += x[i] * static_cast<double>(x[i]);
    }
    const double rel = std::sqrt(se / sx);
    std::printf("%s: relative RMS error %.4f\n", std::string(DTypeName(dt)).c_str(), rel);
    // Uniform rounding over a step of range / (2^bits - 1) gives about range / 2^bits /
    // sqrt(12) per element; the range of 32 normal values is about 4.1 sigma.
    EXPECT_LT(rel, dt == DType::kQ4_K ? 0.12 : dt == DType::kQ5_K ? 0.06 : 0.04);
    EXPECT_LT(rel, prev / 1.6);  // each extra bit roughly halves the error
    prev = rel;
  }
  // All zeros: zero scales, zero values.
  const std::vector<float> z(256, 0.0f);
  for (DType dt : {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    std::vector<uint8_t> q(DTypeBlockBytes(dt), 0xAB);
    QuantizeRow(z.data(), 256, dt, q.data());
    EXPECT_EQ(Dequantize(q.data(), dt, 256), z) << DTypeName(dt);
  }
}

}  // namespace
}  // namespace stocha
