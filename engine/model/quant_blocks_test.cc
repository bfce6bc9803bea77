// Q8_0 / Q4_0 blocks written byte by byte, against values computed by hand (ggml's layouts:
// ggml/src/ggml-common.h, ggml/src/ggml-quants.c).
#include "engine/model/quant_blocks.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stocha {
namespace {

std::vector<float> Dequantize(const std::string& bytes, DType dt, int64_t n) {
  std::vector<float> out(n);
  DequantizeRow(bytes.data(), dt, n, out.data());
  return out;
}

TEST(QuantBlocksTest, SizesAreGgmls) {
  EXPECT_EQ(DTypeBytes(DType::kQ8_0, 64), 68u);
  EXPECT_EQ(DTypeBytes(DType::kQ4_0, 64), 36u);
  EXPECT_EQ(DTypeBlockSize(DType::kQ8_0), 32);
  EXPECT_EQ(DTypeName(DType::kQ4_0), "Q4_0");
}

TEST(QuantBlocksTest, DequantizesHandWrittenQ8_0Blocks) {
  // Block 0: d = F16 0x3800 = 0.5; q = 1, -2, 127, -128, then zeros.
  // Block 1: d = F16 0x2E66: exponent 11 -> 2^-4, mantissa 1 + 614/1024 = 1.599609375,
  //          so d = 0.0999755859375; q[0] = 3 -> 0.2999267578125, q[31] = -1 -> -d.
  std::string b(68, '\0');
  b[0] = '\x00', b[1] = '\x38';
  b[2] = 1, b[3] = static_cast<char>(-2), b[4] = 127, b[5] = static_cast<char>(-128);
  b[34] = '\x66', b[35] = '\x2E';
  b[36] = 3, b[67] = static_cast<char>(-1);
  const std::vector<float> x = Dequantize(b, DType::kQ8_0, 64);
  EXPECT_EQ(x[0], 0.5f);
  EXPECT_EQ(x[1], -1.0f);
  EXPECT_EQ(x[2], 63.5f);
  EXPECT_EQ(x[3], -64.0f);
  EXPECT_EQ(x[4], 0.0f);
  EXPECT_EQ(x[32], 0.2999267578125f);
  EXPECT_EQ(x[63], -0.0999755859375f);
  EXPECT_EQ(x[40], 0.0f);
}

TEST(QuantBlocksTest, DequantizesHandWrittenQ4_0Blocks) {
  // Block 0: d = F16 0x4000 = 2. qs[0] = 0x1F: element 0 = (15 - 8) * 2 = 14, element 16 =
  // (1 - 8) * 2 = -14. qs[1] = 0x80: element 1 = (0 - 8) * 2 = -16, element 17 = 0.
  // Other bytes 0x88: zeros. Block 1: d = F16 0xBC00 = -1, qs[0] = 0x0F: element 32 =
  // (15 - 8) * -1 = -7, element 48 = (0 - 8) * -1 = 8.
  std::string b(36, '\x88');
  b[0] = '\x00', b[1] = '\x40', b[2] = '\x1F', b[3] = '\x80';
  b[18] = '\x00', b[19] = '\xBC', b[20] = '\x0F';
  const std::vector<float> x = Dequantize(b, DType::kQ4_0, 64);
  EXPECT_EQ(x[0], 14.0f);
  EXPECT_EQ(x[16], -14.0f);
  EXPECT_EQ(x[1], -16.0f);
  EXPECT_EQ(x[17], 0.0f);
  EXPECT_EQ(x[2], 0.0f);
  EXPECT_EQ(x[31], 0.0f);
  EXPECT_EQ(x[32], -7.0f);
  EXPECT_EQ(x[48], 8.0f);
  EXPECT_EQ(x[33], -0.0f);
}

TEST(QuantBlocksTest, QuantizesLikeGgmlsReference) {
  // Q8_0: max |x| = 127 -> d = 1 (F16 0x3C00); -63.5 rounds half away from zero to -64,
  // 0.49 to 0, 2.5 to 3.
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f, x[1] = -63.5f, x[2] = 0.49f, x[3] = 2.5f;
  std::string q8(34, '\0');
  QuantizeRow(x.data(), 32, DType::kQ8_0, q8.data());
  EXPECT_EQ(static_cast<uint8_t>(q8[0]), 0x00);
  EXPECT_EQ(static_cast<uint8_t>(q8[1]), 0x3C);
  EXPECT_EQ(q8[2], 127);
  EXPECT_EQ(q8[3], -64);
  EXPECT_EQ(q8[4], 0);
  EXPECT_EQ(q8[5], 3);
  // Q4_0: the largest magnitude is -16 -> d = -16 / -8 = 2 (F16 0x4000), 1/d = 0.5.
  // x[0] = -16: -8 + 8.5 -> 0. x[16] = 16: 8 + 8.5 = 16.5 -> 16 -> clamped to 15.
  // x[1] = 3: 1.5 + 8.5 = 10. x[17] = -1: -0.5 + 8.5 = 8. Zeros: 8.5 -> 8.
  std::fill(x.begin(), x.end(), 0.0f);
  x[0] = -16.0f, x[16] = 16.0f, x[1] = 3.0f, x[17] = -1.0f;
  std::string q4(18, '\0');
  QuantizeRow(x.data(), 32, DType::kQ4_0, q4.data());
  EXPECT_EQ(static_cast<uint8_t>(q4[0]), 0x00);
  EXPECT_EQ(static_cast<uint8_t>(q4[1]), 0x40);
  EXPECT_EQ(static_cast<uint8_t>(q4[2]), 0xF0);
  EXPECT_EQ(static_cast<uint8_t>(q4[3]), 0x8A);
  EXPECT_EQ(static_cast<uint8_t>(q4[4]), 0x88);
  // And back: -16, 4, ..., 14, 0 (16 saturates to 7 * 2).
  const std::vector<float> y = Dequantize(q4, DType::kQ4_0, 32);
  EXPECT_EQ(y[0], -16.0f);
  EXPECT_EQ(y[1], 4.0f);
  EXPECT_EQ(y[16], 14.0f);
  EXPECT_EQ(y[17], 0.0f);
}

TEST(QuantBlocksTest, AllZeroBlockQuantizesToZeroScale) {
  const std::vector<float> x(32, 0.0f);
  std::string q8(34, '\x7f'), q4(18, '\x7f');
  QuantizeRow(x.data(), 32, DType::kQ8_0, q8.data());
  QuantizeRow(x.data(), 32, DType::kQ4_0, q4.data());
  EXPECT_EQ(q8, std::string(34, '\0'));
  // Q4_0's d = 0 / -8 is -0 in F32, so ggml stores F16 0x8000 (bytes 00 80).
  EXPECT_EQ(q4, std::string("\x00\x80", 2) + std::string(16, '\x88'));
}

}  // namespace
}  // namespace stocha
