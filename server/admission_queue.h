// The bounded queue of requests waiting for a place in the batch.
#ifndef STOCHA_SERVER_ADMISSION_QUEUE_H_
#define STOCHA_SERVER_ADMISSION_QUEUE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "server/job.h"

namespace stocha::server {

struct QueueLimits {
  int max_requests = 256;                 // waiting requests
  int64_t max_tokens = int64_t{1} << 20;  // prompt tokens of the waiting requests
};

// First come, first served, bounded in requests and prompt tokens: a request that does not
// fit is refused at once (RESOURCE_EXHAUSTED) instead of waiting without bound.
// Thread-safety: none; the scheduler guards it with its mutex.
class AdmissionQueue {
 public:
  explicit AdmissionQueue(const QueueLimits& limits) : limits_(limits) {}

  // OK, or RESOURCE_EXHAUSTED naming the limit a request of `prompt_tokens` would break.
  absl::Status CanAccept(int64_t prompt_tokens) const;
  void Push(std::unique_ptr<Job> job);
  Job* Front() const { return jobs_.empty() ? nullptr : jobs_.front().get(); }
  std::unique_ptr<Job> PopFront();
  // Removes and returns the jobs for which `pred` is true, keeping the order of the rest.
  std::vector<std::unique_ptr<Job>> RemoveIf(const std::function<bool(const Job&)>& pred);

  bool empty() const { return jobs_.empty(); }
  int size() const { return static_cast<int>(jobs_.size()); }
  int64_t tokens() const { return tokens_; }

 private:
  QueueLimits limits_;
  std::deque<std::unique_ptr<Job>> jobs_;
  int64_t tokens_ = 0;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_ADMISSION_QUEUE_H_
