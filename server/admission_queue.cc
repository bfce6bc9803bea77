// AdmissionQueue: FIFO with request and token bounds.
#include "server/admission_queue.h"

#include <utility>

#include "absl/strings/str_format.h"

namespace stocha::server {

absl::Status AdmissionQueue::CanAccept(int64_t prompt_tokens) const {
  if (static_cast<int>(jobs_.size()) >= limits_.max_requests) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("queue full: %d requests waiting (limit %d); retry later", jobs_.size(),
                        limits_.max_requests));
  }
  if (tokens_ + prompt_tokens > limits_.max_tokens) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("queue full: %d prompt tokens waiting, this request adds %d (limit %d); "
                        "retry later",
                        tokens_, prompt_tokens, limits_.max_tokens));
  }
  return absl::OkStatus();
}

void AdmissionQueue::Push(std::unique_ptr<Job> job) {
  tokens_ += static_cast<int64_t>(job->request.prompt.size());
  jobs_.push_back(std::move(job));
}

std::unique_ptr<Job> AdmissionQueue::PopFront() {
  if (jobs_.empty()) {
    return nullptr;
  }
  std::unique_ptr<Job> job = std::move(jobs_.front());
  jobs_.pop_front();
  tokens_ -= static_cast<int64_t>(job->request.prompt.size());
  return job;
}

std::vector<std::unique_ptr<Job>> AdmissionQueue::RemoveIf(
    const std::function<bool(const Job&)>& pred) {
  std::vector<std::unique_ptr<Job>> removed;
  std::deque<std::unique_ptr<Job>> kept;
  for (std::unique_ptr<Job>& job : jobs_) {
    if (pred(*job)) {
      tokens_ -= static_cast<int64_t>(job->request.prompt.size());
      removed.push_back(std::move(job));
    } else {
      kept.push_back(std::move(job));
    }
  }
  jobs_.swap(kept);
  return removed;
}

}  // namespace stocha::server
