// KthLargest against std::nth_element (with std::greater) on copies of the same values:
// normal draws, many ties, all equal, signed zeros, infinities, tiny and huge magnitudes, every
// k of a small array and the benchmark's k at the FFN widths.
#include "engine/kernels/cpu/kth_largest.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stocha {
namespace {

float Expected(std::vector<float> v, int64_t k) {
  std::nth_element(v.begin(), v.begin() + (k - 1), v.end(), std::greater<float>());
  return v[k - 1];
}

void CheckAllK(const std::vector<float>& v, const std::string& what) {
  std::vector<uint32_t> scratch;
  const auto n = static_cast<int64_t>(v.size());
  for (int64_t k = 1; k <= n; ++k) {
    const float got = KthLargest(v.data(), n, k, &scratch);
    // Compared as floats: -0 and +0 are one value to the caller's `a < cut` test.
    EXPECT_EQ(got, Expected(v, k)) << what << " k=" << k;
  }
}

TEST(KthLargestTest, EqualsNthElementOnSmallArraysForEveryK) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> normal(300);
  for (float& x : normal) x = nd(rng);
  CheckAllK(normal, "normal");

  std::uniform_int_distribution<int> small(-3, 3);
  std::vector<float> ties(257);
  for (float& x : ties) x = 0.5f * static_cast<float>(small(rng));
  CheckAllK(ties, "ties");

  CheckAllK(std::vector<float>(40, 1.25f), "all equal");
  CheckAllK({0.0f, -0.0f, 0.0f, -0.0f, 1.0f, -1.0f}, "signed zeros");

  const float inf = std::numeric_limits<float>::infinity();
  const float tiny = std::numeric_limits<float>::denorm_min();
  CheckAllK({inf, -inf, 3e38f, -3e38f, tiny, -tiny, 1e-30f, -1e-30f, 0.0f, 7.0f}, "extremes");

  // Values that share their top 12 key bits (one bucket), so the answer is decided inside it.
  std::vector<float> one_bucket(100);
  for (int i = 0; i < 100; ++i) one_bucket[i] = 1.0f + static_cast<float>(i) * 1e-4f;
  std::shuffle(one_bucket.begin(), one_bucket.end(), rng);
  CheckAllK(one_bucket, "one bucket");
}

TEST(KthLargestTest, EqualsNthElementAtTheBenchmarksWidths) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<uint32_t> scratch;
  for (int64_t n : {172, 5632, 8192, 8960, 11008}) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = nd(rng);
    for (double density : {0.05, 0.1, 0.5, 0.9, 1.0}) {
      const auto k = std::max<int64_t>(1, std::llround(density * static_cast<double>(n)));
      EXPECT_EQ(KthLargest(v.data(), n, k, &scratch), Expected(v, k))
          << "n=" << n << " density=" << density;
    }
  }
}

}  // namespace
}  // namespace stocha
