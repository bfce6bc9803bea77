// Admission's account of KV-cache memory, in positions, reserved for the worst case.
#ifndef STOCHA_SERVER_KV_BUDGET_H_
#define STOCHA_SERVER_KV_BUDGET_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/kv_reservation.h"
#include "server/batch_engine.h"

namespace stocha::server {

// A running request reserves what it could need at most, so an admitted request never
// runs out of KV memory and nothing has to be preempted; a request that does not fit
// waits in the queue. What "at most" is depends on how the backend takes the memory
// (engine/kv_reservation.h). Thread-safety: none; the inference thread owns it.
class KvBudget {
 public:
  KvBudget(int64_t capacity, KvReservation reservation, int max_context)
      : capacity_(capacity), reservation_(reservation), max_context_(max_context) {}

  // The positions a request of n samples holds at most while it runs. kGrowing: forked
  // samples copy the prompt's cache, so each of the n may hold prompt + max_new_tokens
  // (the prompt is still computed only once). kWholeContext: each of the n sequences
  // takes max_context positions from the moment it is made, however short it stays.
  int64_t Need(int prompt_tokens, int max_new_tokens, int n) const {
    const int64_t per_sequence = reservation_ == KvReservation::kWholeContext
                                     ? static_cast<int64_t>(max_context_)
                                     : static_cast<int64_t>(prompt_tokens) + max_new_tokens;
    return static_cast<int64_t>(n) * per_sequence;
  }

  bool Fits(int64_t need) const { return reserved_ + need <= capacity_; }
  void Reserve(int64_t need) { reserved_ += need; }
  void Release(int64_t need) { reserved_ -= need; }

  int64_t capacity() const { return capacity_; }
  int64_t reserved() const { return reserved_; }
  KvReservation reservation() const { return reservation_; }

 private:
  int64_t capacity_;
  KvReservation reservation_;
  int max_context_;
  int64_t reserved_ = 0;
};

// Device memory left out of a budget taken from the GPU's free memory: 5% of the GPU's
// total, at least 512 MiB. It covers what is allocated after the budget is chosen and
// outside the KV slots: the CUDA runtime's own growth (module loads, event pools), the
// allocator's rounding of each slot, and other processes on a shared GPU.
int64_t DeviceKvMarginBytes(int64_t total_bytes);

// The positions admission may hand out and where that figure came from (logged at start).
struct KvCapacity {
  int64_t positions = 0;
  int64_t bytes_per_position = 1;  // the engine's, at least 1
  std::string source;              // e.g. "--kv_cache_mb: 512 MiB"
  std::string warning;             // non-empty when the budget exceeds what the GPU has free
};

// budget_bytes > 0 (--kv_cache_mb): that many bytes over the engine's bytes per position.
// 0 on a GPU (engine.DeviceMemory()): the device's free memory as the engine reports it
// now, after the weights and scratch are allocated, less DeviceKvMarginBytes, capped at
// max_batch_size full contexts. 0 on the CPU: max_batch_size full contexts. A budget that
// cannot hold one sequence (2 positions when the memory grows, max_context when a
// sequence takes it whole) is an error naming its source: InvalidArgument for a flag,
// ResourceExhausted for a GPU without room.
absl::StatusOr<KvCapacity> ChooseKvCapacity(int64_t budget_bytes, int max_batch_size,
                                            const BatchEngine& engine);

}  // namespace stocha::server

#endif  // STOCHA_SERVER_KV_BUDGET_H_
