// HugePageBuffer: sizes, zero fill, alignment, moves.
#include "engine/model/huge_page_buffer.h"

#include <cstdint>
#include <utility>

#include "gtest/gtest.h"

namespace stocha {
namespace {

constexpr size_t kHuge = size_t{2} << 20;

TEST(HugePageBufferTest, ZeroFilledAndWritableOverTheWholeSize) {
  for (size_t n :
       {size_t{0}, size_t{1}, size_t{4097}, kHuge - 1, kHuge, kHuge + 1, 5 * kHuge + 3}) {
    HugePageBuffer b(n);
    EXPECT_EQ(b.size(), n);
    ASSERT_NE(b.data(), nullptr) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 4096, 0u) << n;
    if (n >= kHuge) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHuge, 0u) << n;
    }
    size_t nonzero = 0;
    for (size_t i = 0; i < n; ++i) nonzero += b.data()[i] != 0;
    EXPECT_EQ(nonzero, 0u) << n;
    for (size_t i = 0; i < n; ++i) b.data()[i] = static_cast<uint8_t>(i * 7);
    for (size_t i = 0; i < n; i += 4093) ASSERT_EQ(b.data()[i], static_cast<uint8_t>(i * 7));
  }
}

TEST(HugePageBufferTest, MovesTransferOwnership) {
  HugePageBuffer a(3 * kHuge);
  a.data()[123] = 42;
  uint8_t* p = a.data();
  HugePageBuffer b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.data()[123], 42);
  HugePageBuffer c(10);
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.size(), 3 * kHuge);
  c = HugePageBuffer();
  EXPECT_EQ(c.data(), nullptr);
}

}  // namespace
}  // namespace stocha
