// A generation request as the scheduler sees it, and how results flow back (no gRPC here).
#ifndef STOCHA_SERVER_REQUEST_H_
#define STOCHA_SERVER_REQUEST_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/activation.h"
#include "engine/sample_stream.h"
#include "engine/sampling/sampler.h"
#include "engine/step_stats.h"
#include "server/request_counters.h"

namespace stocha::server {

// A validated request: every default resolved, every value in range.
struct GenerationRequest {
  std::string request_id;
  std::vector<int> prompt;  // not empty (at least BOS)
  int max_new_tokens = 64;  // already capped so that prompt + max_new_tokens <= context
  std::vector<std::string> stop_strings;
  std::vector<int> stop_token_ids;
  bool ignore_eos = false;
  SamplingParams sampling;  // sampling.top_logprobs: alternatives when logprobs is on
  bool logprobs = false;    // report the chosen token's log-probability (and top ones)
  ActivationSpec activation;
  int n = 1;
  absl::Time deadline = absl::InfiniteFuture();
  Rpc rpc = Rpc::kOther;  // the call it came from (for the request log)
};

// A new piece of one sample's output. Text is whole UTF-8 characters and never contains
// (part of) a matched stop string; token_ids/logprobs are the tokens whose text is out.
struct SampleChunk {
  int sample_index = 0;
  std::string text;
  std::vector<int> token_ids;
  std::vector<SampleResult> logprobs;  // parallel to token_ids when logprobs are on
  std::optional<FinishReason> finish;  // set on the sample's last chunk
  std::string stop_string;             // the stop string that ended the sample
  std::optional<int> stop_token_id;    // the stop token that ended the sample

  bool empty() const { return text.empty() && token_ids.empty() && !finish.has_value(); }
};

// What a finished request reports besides its samples.
struct RequestSummary {
  std::string request_id;
  int prompt_tokens = 0;
  int prompt_tokens_computed = 0;  // once per request, whatever n
  int completion_tokens = 0;       // over all samples, stop tokens included
  absl::Duration queued;           // arrival to first prefill step
  absl::Duration time_to_first_token;
  absl::Duration total;
  StepStats stats;  // token and zero counts of this request's inputs only
  uint64_t seed = 0;
  ActivationSpec activation;
};

// Receives a request's results. Both methods are called on the scheduler's inference
// thread and must not block (queue the data and return). OnComplete is called exactly once,
// last; after it the scheduler never touches the sink again.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void OnChunk(SampleChunk chunk) = 0;
  // OK: every sample finished. Otherwise: CANCELLED, DEADLINE_EXCEEDED,
  // RESOURCE_EXHAUSTED (waited too long in the queue), UNAVAILABLE (shutdown) or INTERNAL.
  virtual void OnComplete(absl::StatusOr<RequestSummary> result) = 0;
};

// The transport's handle on a request, made before it is submitted (so a cancel can never
// miss it). Cancel() makes the request finish with CANCELLED before its next step, or do
// nothing once it is done. Thread-safe.
class RequestControl {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_REQUEST_H_
