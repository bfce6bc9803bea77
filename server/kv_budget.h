// Admission's account of KV-cache memory, in positions, reserved for the worst case.
#ifndef STOCHA_SERVER_KV_BUDGET_H_
#define STOCHA_SERVER_KV_BUDGET_H_

#include <cstdint>

namespace stocha::server {

// A running request reserves what it could need at most, so an admitted request never
// runs out of KV memory and nothing has to be preempted; a request that does not fit
// waits in the queue. Thread-safety: none; the inference thread owns it.
class KvBudget {
 public:
  explicit KvBudget(int64_t capacity) : capacity_(capacity) {}

  // Forked samples copy the prompt's cache, so each of the n samples may hold
  // prompt + max_new_tokens positions (the prompt is still computed only once).
  static int64_t Need(int prompt_tokens, int max_new_tokens, int n) {
    return static_cast<int64_t>(n) * (static_cast<int64_t>(prompt_tokens) + max_new_tokens);
  }

  bool Fits(int64_t need) const { return reserved_ + need <= capacity_; }
  void Reserve(int64_t need) { reserved_ += need; }
  void Release(int64_t need) { reserved_ -= need; }

  int64_t capacity() const { return capacity_; }
  int64_t reserved() const { return reserved_; }

 private:
  int64_t capacity_;
  int64_t reserved_ = 0;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_KV_BUDGET_H_
