// One sequence's key/value cache: F32 [layer][position][KV*hd], grown on demand.
#ifndef STOCHA_ENGINE_STEP_KV_CACHE_H_
#define STOCHA_ENGINE_STEP_KV_CACHE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace stocha {

// Thread-safety: none; owned by one sequence, touched only by the engine's thread (and
// read by its worker threads inside one Step, never written concurrently per position).
class KvCache {
 public:
  KvCache(int layers, int kv_dim, int max_positions);

  // Ensures room for positions [0, n). ResourceExhausted beyond max_positions.
  absl::Status Reserve(int n);

  float* Key(int layer, int pos) { return &k_[layer][Offset(pos)]; }
  float* Value(int layer, int pos) { return &v_[layer][Offset(pos)]; }
  const float* Key(int layer, int pos) const { return &k_[layer][Offset(pos)]; }
  const float* Value(int layer, int pos) const { return &v_[layer][Offset(pos)]; }

  // A copy holding the first `length` positions (for forking a prefilled prompt).
  KvCache Prefix(int length) const;

  // A layer's positions lie kv_dim() floats apart in one buffer: Key(l, t) is
  // Key(l, 0) + t * kv_dim() (attention reads a head's keys as one strided run).
  int kv_dim() const { return kv_dim_; }
  int capacity() const { return capacity_; }
  int64_t bytes() const;

 private:
  size_t Offset(int pos) const { return static_cast<size_t>(pos) * kv_dim_; }
  int kv_dim_;
  int max_positions_;
  int capacity_ = 0;
  std::vector<std::vector<float>> k_, v_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_STEP_KV_CACHE_H_
