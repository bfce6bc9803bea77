// Growable per-sequence KV cache (capacity doubles, capped at the context length).
#include "engine/step/kv_cache.h"

#include <algorithm>
#include <new>
#include <stdexcept>

#include "absl/strings/str_format.h"

namespace stocha {

KvCache::KvCache(int layers, int kv_dim, int max_positions)
    : kv_dim_(kv_dim), max_positions_(max_positions), k_(layers), v_(layers) {}

absl::Status KvCache::Reserve(int n) {
  if (n <= capacity_) return absl::OkStatus();
  if (n > max_positions_) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("sequence needs %d positions, context is %d", n, max_positions_));
  }
  const int cap = std::min(max_positions_, std::max({n, 2 * capacity_, 16}));
  try {
    for (auto* side : {&k_, &v_}) {
      for (auto& layer : *side) layer.resize(static_cast<size_t>(cap) * kv_dim_);
    }
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("KV cache: out of memory growing to %d positions", cap));
  } catch (const std::length_error&) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("KV cache: %d positions exceed the largest buffer", cap));
  }
  capacity_ = cap;
  return absl::OkStatus();
}

KvCache KvCache::Prefix(int length) const {
  KvCache out(static_cast<int>(k_.size()), kv_dim_, max_positions_);
  (void)out.Reserve(std::max(length, 1));
  const size_t n = static_cast<size_t>(length) * kv_dim_;
  for (size_t l = 0; l < k_.size(); ++l) {
    std::copy_n(k_[l].begin(), n, out.k_[l].begin());
    std::copy_n(v_[l].begin(), n, out.v_[l].begin());
  }
  return out;
}

int64_t KvCache::bytes() const {
  return 2 * static_cast<int64_t>(k_.size()) * capacity_ * kv_dim_ * sizeof(float);
}

}  // namespace stocha
