// A request's state inside the scheduler: queued, prefilling, then n decoding samples.
#ifndef STOCHA_SERVER_JOB_H_
#define STOCHA_SERVER_JOB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/sample_stream.h"
#include "engine/step_stats.h"
#include "server/request.h"

namespace stocha::server {

struct SampleState {
  SequenceId seq = 0;                  // 0: not created (yet)
  std::optional<SampleStream> stream;  // the engine's per-sample step; set after prefill
  bool finish_sent = false;
};

// Thread-safety: created by a transport thread in Submit, then touched only by the
// inference thread (the queue hands it over under the scheduler's mutex).
struct Job {
  GenerationRequest request;
  RequestSink* sink = nullptr;
  std::shared_ptr<RequestControl> control;
  int64_t kv_need = 0;  // KV positions reserved while running
  absl::Time arrival;
  absl::Time started = absl::InfinitePast();      // first prefill step
  absl::Time first_token = absl::InfinitePast();  // first sampled token

  SampleRules rules;                 // from the request; the samples' streams point here
  SequenceId root = 0;               // the prompt's sequence; sample 0 continues on it
  int prefilled = 0;                 // prompt tokens in the root's KV cache
  std::vector<SampleState> samples;  // empty until the prompt is prefilled
  int completion_tokens = 0;
  StepStats stats;
  absl::Status error;  // set when the engine refused part of the job

  bool prefilling() const { return samples.empty(); }
  // Every sample finished, or the engine refused to fork them (`error`).
  bool AllDone() const {
    if (samples.empty()) {
      return false;
    }
    if (!error.ok()) {
      return true;
    }
    for (const SampleState& s : samples) {
      if (!s.stream.has_value() || !s.stream->finished()) {
        return false;
      }
    }
    return true;
  }
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_JOB_H_
