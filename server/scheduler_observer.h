// What the scheduler reports to whoever watches it (the metrics), as plain C++ types.
#ifndef STOCHA_SERVER_SCHEDULER_OBSERVER_H_
#define STOCHA_SERVER_SCHEDULER_OBSERVER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/activation.h"
#include "engine/step_stats.h"
#include "server/request_counters.h"

namespace stocha::server {

// One engine step. `stats` is the whole step (per-layer seconds, FFN calls by path, union of
// active neurons); per_input[i] the token and zero counts of input i, which ran with
// activation[i].
struct StepReport {
  int inputs = 0;
  int64_t tokens = 0;
  absl::Duration duration;
  const StepStats* stats = nullptr;
  absl::Span<const StepStats> per_input;
  absl::Span<const ActivationKind> activation;
};

// One request leaving the scheduler, whatever its end (code).
struct RequestReport {
  std::string request_id;
  Rpc rpc = Rpc::kOther;
  std::string activation;            // e.g. "stocha:0.5"
  const StepStats* stats = nullptr;  // its own token and zero counts (null: it never ran)
  absl::StatusCode code = absl::StatusCode::kOk;
  int n = 1;
  int prompt_tokens = 0;
  int completion_tokens = 0;             // over all samples
  int max_sample_tokens = 0;             // tokens of its longest sample
  std::optional<absl::Duration> queued;  // unset: it never ran
  std::optional<absl::Duration> time_to_first_token;
  absl::Duration total;  // arrival to the end
};

// Why the scheduler refused or dropped a request without running it.
enum class Refusal { kQueueFull, kQueueTime, kKvBudget, kDraining };

// Called on the scheduler's inference thread (OnRefusal also on the submitting thread);
// implementations must be thread-safe and must not block.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  virtual void OnStep(const StepReport& step) = 0;
  virtual void OnRequestDone(const RequestReport& request) = 0;
  virtual void OnRefusal(Refusal why) = 0;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_SCHEDULER_OBSERVER_H_
