// A RequestSink that records chunks and the outcome, and lets a test wait for it.
#ifndef STOCHA_TESTS_SERVER_TEST_SINK_H_
#define STOCHA_TESTS_SERVER_TEST_SINK_H_

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/request.h"

namespace stocha::server::testing {

// Thread-safety: the scheduler calls in on its thread; the test reads after Wait().
class TestSink final : public RequestSink {
 public:
  void OnChunk(SampleChunk chunk) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (result_.has_value()) {
      ++calls_after_done_;
    }
    chunks_.push_back(std::move(chunk));
  }
  void OnComplete(absl::StatusOr<RequestSummary> result) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (result_.has_value()) {
      ++calls_after_done_;
    }
    result_ = std::move(result);
    cv_.notify_all();  // under the lock: the waiter may destroy the sink once it wakes
  }

  // The outcome, or DEADLINE_EXCEEDED("test sink: ...") if none came in `timeout`.
  absl::StatusOr<RequestSummary> Wait(absl::Duration timeout = absl::Seconds(20)) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                      [this] { return result_.has_value(); })) {
      return absl::DeadlineExceededError("test sink: no OnComplete in time");
    }
    return *result_;
  }
  bool done() const {
    std::lock_guard<std::mutex> lock(mu_);
    return result_.has_value();
  }

  std::string Text(int sample) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string s;
    for (const SampleChunk& c : chunks_) {
      if (c.sample_index == sample) s += c.text;
    }
    return s;
  }
  std::vector<int> Tokens(int sample) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<int> t;
    for (const SampleChunk& c : chunks_) {
      if (c.sample_index == sample) t.insert(t.end(), c.token_ids.begin(), c.token_ids.end());
    }
    return t;
  }
  // The last chunk of `sample` (the one with the finish reason), if any.
  std::optional<SampleChunk> Last(int sample) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<SampleChunk> last;
    for (const SampleChunk& c : chunks_) {
      if (c.sample_index == sample && c.finish.has_value()) last = c;
    }
    return last;
  }
  std::vector<SampleChunk> chunks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return chunks_;
  }
  int calls_after_done() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_after_done_;
  }

 private:
  mutable std::mutex mu_;  // guards everything below
  std::vector<SampleChunk> chunks_;
  std::optional<absl::StatusOr<RequestSummary>> result_;
  int calls_after_done_ = 0;
  std::condition_variable cv_;
};

}  // namespace stocha::server::testing

#endif  // STOCHA_TESTS_SERVER_TEST_SINK_H_
