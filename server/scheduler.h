// Continuous batching: one inference thread owns the engine and runs every request.
#ifndef STOCHA_SERVER_SCHEDULER_H_
#define STOCHA_SERVER_SCHEDULER_H_

#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/admission_queue.h"
#include "server/batch_engine.h"
#include "server/job.h"
#include "server/kv_budget.h"
#include "server/request.h"
#include "server/scheduler_observer.h"

namespace stocha::server {

struct SchedulerOptions {
  int max_batch_size = 32;        // sequences (samples) advanced by one step
  int max_tokens_per_step = 512;  // decode tokens + prompt chunk tokens in one step
  int prefill_chunk = 128;        // prompt tokens of one request per step
  QueueLimits queue;              // bounds of the waiting queue
  absl::Duration max_queue_time = absl::Seconds(30);  // then RESOURCE_EXHAUSTED
  // 0: the GPU's free memory less a margin, else max_batch_size full contexts (kv_budget.h).
  int64_t kv_budget_bytes = 0;
  absl::Duration step_delay;              // added after every step; for tests and demos only
  SchedulerObserver* observer = nullptr;  // if set, told of every step; must outlive it
};

// A consistent view of the scheduler's state, for GetLoad and metrics.
struct LoadSnapshot {
  int queued_requests = 0;
  int64_t queued_tokens = 0;
  int running_requests = 0;
  int running_sequences = 0;
  int64_t kv_reserved = 0;  // positions
  int64_t kv_capacity = 0;
  bool draining = false;
  // Since start, the warm-up included. Request outcomes are not here: the transport counts
  // every call once with its final code (RequestCounters).
  uint64_t admitted = 0, steps = 0, prompt_tokens_computed = 0, generated_tokens = 0;
  // Refused or dropped without running, by reason.
  uint64_t refused_queue_full = 0, refused_queue_time = 0, refused_kv_budget = 0,
           refused_draining = 0;
  // Streams cancelled while running because the client did not read (--stream_buffer_bytes).
  uint64_t dropped_stream_buffer = 0;
};

// Iteration-level batching. Each step carries one token of every decoding sample plus
// prompt chunks (at most prefill_chunk tokens per request, so long prompts never stall
// decoding streams), within max_tokens_per_step; new requests join at the next step when
// the batch and the KV budget have room, in arrival order. MultiSample prefills the prompt
// once, then forks it into n sequences. Cancellation, deadlines and the queue time limit
// are checked before every step.
//
// Thread-safety: Submit, Drain, WaitIdle, Load and Stop may be called from any
// thread; sinks are called only on the inference thread, never under the lock.
class Scheduler {
 public:
  // Starts the inference thread.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(std::unique_ptr<BatchEngine> engine,
                                                           const SchedulerOptions& options);
  ~Scheduler();  // Stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. On OK the scheduler owns it until it calls sink->OnComplete exactly once
  // (the sink must live until then). Errors (nothing queued, the sink is never called):
  // RESOURCE_EXHAUSTED (queue full, or more KV than the whole budget), UNAVAILABLE
  // (draining), INVALID_ARGUMENT (inconsistent request).
  absl::Status Submit(GenerationRequest request, RequestSink* sink,
                      std::shared_ptr<RequestControl> control);

  // Refuses new requests (UNAVAILABLE); queued and running ones go on.
  void Drain();
  // True once nothing is queued or running (before `deadline`).
  bool WaitIdle(absl::Time deadline);
  // Finishes what is left with UNAVAILABLE and joins the inference thread. Idempotent.
  void Stop();

  LoadSnapshot Load() const;
  // Counts a stream cancelled because its client did not read (LoadSnapshot).
  void CountStreamOverflow() {
    std::lock_guard<std::mutex> lock(mu_);
    ++load_.dropped_stream_buffer;
  }
  // Immutable facts (config, tokenizer, context); safe from any thread.
  const BatchEngine& engine() const { return *engine_; }
  const SchedulerOptions& options() const { return options_; }

 private:
  Scheduler(std::unique_ptr<BatchEngine> engine, const SchedulerOptions& options,
            int64_t kv_capacity);

  struct StepPlan {
    std::vector<StepInput> inputs;
    std::vector<Job*> jobs;    // owner of each input
    std::vector<int> samples;  // sample index of each input; -1: a prompt chunk
  };

  void Loop();
  // Under mu_: takes what must end from the queue, and what may start.
  void TakeFromQueue(absl::Time now, std::vector<std::unique_ptr<Job>>& rejected,
                     std::vector<std::unique_ptr<Job>>& admitted);
  void Start(std::unique_ptr<Job> job);
  void ReapRunning(absl::Time now);
  StepPlan Plan() const;
  void RunStep(StepPlan& plan);
  void Observe(const StepPlan& plan, const StepOutput& out, absl::Duration took) const;
  void StartSamples(Job& job, const std::vector<float>& logits);
  void Advance(Job& job, int sample, const std::vector<float>& logits);
  void Emit(Job& job);
  // Frees the job's sequences and KV, reports `status` (or the summary if OK), erases it.
  void Finish(Job* job, const absl::Status& status);
  void FinishQueued(std::unique_ptr<Job> job, const absl::Status& status);
  static RequestSummary Summarize(Job& job, absl::Time now);  // moves the stats out
  void Refused(Refusal why);                                  // with mu_ held
  void Report(const Job& job, absl::StatusCode code) const;
  void PublishLoad();
  void PublishLocked();  // with mu_ held

  std::unique_ptr<BatchEngine> engine_;
  const SchedulerOptions options_;

  // Inference thread only.
  KvBudget kv_;
  std::list<std::unique_ptr<Job>> running_;  // admission order
  int running_sequences_ = 0;                // batch slots held (n per request)

  // std::mutex rather than absl::Mutex: ThreadSanitizer sees through pthread mutexes, not
  // through a prebuilt (uninstrumented) Abseil. mu_ guards the members below it; cv_ is
  // notified whenever the queue, stop_ or running_requests_ change.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  AdmissionQueue queue_;
  bool draining_ = false;
  bool stop_ = false;
  int running_requests_ = 0;  // admitted, not yet reported done
  LoadSnapshot load_;         // counters and the last published view

  std::thread thread_;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_SCHEDULER_H_
