// KthLargest: a histogram of the top 12 bits of an order-preserving integer key, then
// std::nth_element over the one bucket that holds the answer.
#include "engine/kernels/cpu/kth_largest.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>

namespace stocha {
namespace {

constexpr int kBucketBits = 12;
constexpr int kShift = 32 - kBucketBits;

// Unsigned keys in the order of the floats: a negative float's bits inverted (larger
// magnitude, smaller key), a non-negative one's sign bit set.
inline uint32_t Key(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

inline float FromKey(uint32_t key) {
  const uint32_t u = (key & 0x80000000u) != 0 ? (key & 0x7fffffffu) : ~key;
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

}  // namespace

float KthLargest(const float* a, int64_t n, int64_t k, std::vector<uint32_t>* scratch) {
  std::array<int64_t, 1 << kBucketBits> count{};
  scratch->resize(static_cast<size_t>(n));
  uint32_t* keys = scratch->data();
  for (int64_t i = 0; i < n; ++i) {
    keys[i] = Key(a[i]);
    ++count[keys[i] >> kShift];
  }
  // The bucket holding the k-th largest key, from the top, and how many keys lie above it.
  int bucket = (1 << kBucketBits) - 1;
  int64_t above = 0;
  while (above + count[bucket] < k) above += count[bucket--];
  const auto b = static_cast<uint32_t>(bucket);
  const auto end = std::remove_if(keys, keys + n, [b](uint32_t key) { return key >> kShift != b; });
  const int64_t rank = k - above - 1;  // within the bucket, descending
  std::nth_element(keys, keys + rank, end, std::greater<uint32_t>());
  return FromKey(keys[rank]);
}

}  // namespace stocha
