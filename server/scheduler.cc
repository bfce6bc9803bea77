// Scheduler: admission, step planning, sampling and completion on the inference thread.
#include "server/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "server/log.h"

namespace stocha::server {
namespace {

// gRPC cancels a call when its deadline passes, and the cancel may be seen a moment before
// the clock passes the deadline as the server converted it: a cancel this close to the
// deadline is the deadline (what the client sees), not a client's cancel.
constexpr absl::Duration kDeadlineSlack = absl::Milliseconds(20);

bool DeadlinePassed(const Job& job, absl::Time now) {
  return now > job.request.deadline ||
         (job.control->cancelled() && now + kDeadlineSlack > job.request.deadline);
}

// Why a request left the queue without running.
absl::Status QueuedEnd(const Job& job, absl::Time now, absl::Duration max_queue_time) {
  if (DeadlinePassed(job, now)) {
    return absl::DeadlineExceededError("the deadline passed while the request was queued");
  }
  if (job.control->cancelled()) return absl::CancelledError("cancelled while queued");
  return absl::ResourceExhaustedError(
      absl::StrFormat("waited %s in the queue (limit %s); the server is overloaded",
                      absl::FormatDuration(absl::Trunc(now - job.arrival, absl::Milliseconds(1))),
                      absl::FormatDuration(max_queue_time)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(std::unique_ptr<BatchEngine> engine,
                                                             const SchedulerOptions& options) {
  if (engine == nullptr) {
    return absl::InvalidArgumentError("Scheduler: engine is null");
  }
  if (options.max_batch_size < 1) {
    return absl::InvalidArgumentError("max_batch_size must be >= 1");
  }
  if (options.max_tokens_per_step < options.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_tokens_per_step (%d) must be >= max_batch_size (%d): every decoding sample "
        "takes one token per step",
        options.max_tokens_per_step, options.max_batch_size));
  }
  if (options.prefill_chunk < 1) {
    return absl::InvalidArgumentError("prefill_chunk must be >= 1");
  }
  if (options.queue.max_requests < 0 || options.queue.max_tokens < 0) {
    return absl::InvalidArgumentError("queue limits must be >= 0");
  }
  if (options.kv_budget_bytes < 0) {
    return absl::InvalidArgumentError("kv budget must be >= 0");
  }
  absl::StatusOr<KvCapacity> kv =
      ChooseKvCapacity(options.kv_budget_bytes, options.max_batch_size, *engine);
  if (!kv.ok()) {
    return kv.status();
  }
  LogInfo("KV budget: %d positions of %d bytes, %s reservation (%s)", kv->positions,
          kv->bytes_per_position, KvReservationName(engine->kv_reservation()), kv->source);
  if (!kv->warning.empty()) {
    LogWarning("%s", kv->warning);
  }
  const int64_t capacity = kv->positions;
  auto s = std::unique_ptr<Scheduler>(new Scheduler(std::move(engine), options, capacity));
  s->thread_ = std::thread([p = s.get()] { p->Loop(); });
  return s;
}

Scheduler::Scheduler(std::unique_ptr<BatchEngine> engine, const SchedulerOptions& options,
                     int64_t kv_capacity)
    : engine_(std::move(engine)),
      options_(options),
      kv_(kv_capacity, engine_->kv_reservation(), engine_->max_context()),
      queue_(options.queue) {
  load_.kv_capacity = kv_capacity;
}

Scheduler::~Scheduler() { Stop(); }

absl::Status Scheduler::Submit(GenerationRequest request, RequestSink* sink,
                               std::shared_ptr<RequestControl> control) {
  const int prompt = static_cast<int>(request.prompt.size());
  if (sink == nullptr || control == nullptr || prompt == 0 || request.n < 1 ||
      request.max_new_tokens < 0 || prompt + request.max_new_tokens > engine_->max_context()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "inconsistent request: %d prompt tokens, max_new_tokens %d, n %d, context %d", prompt,
        request.max_new_tokens, request.n, engine_->max_context()));
  }
  if (request.n > options_.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrFormat("n: %d samples exceed the batch size of %d",
                                                      request.n, options_.max_batch_size));
  }
  auto job = std::make_unique<Job>();
  job->kv_need = kv_.Need(prompt, request.max_new_tokens, request.n);
  if (job->kv_need > kv_.capacity()) {
    std::lock_guard<std::mutex> lock(mu_);
    Refused(Refusal::kKvBudget);
    if (kv_.reservation() == KvReservation::kWholeContext) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "the request's %d sequences take %d KV positions (on this backend each holds the "
          "whole context of %d from its start); the server's whole KV budget is %d: lower n",
          request.n, job->kv_need, engine_->max_context(), kv_.capacity()));
    }
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the request may need %d KV positions (n * (prompt + max_new_tokens)); the server's "
        "whole KV budget is %d: lower max_new_tokens or n",
        job->kv_need, kv_.capacity()));
  }
  job->request = std::move(request);
  job->sink = sink;
  job->control = std::move(control);
  job->arrival = absl::Now();

  std::lock_guard<std::mutex> lock(mu_);
  if (draining_ || stop_) {
    Refused(Refusal::kDraining);
    return absl::UnavailableError("the server is shutting down; retry on another replica");
  }
  if (absl::Status s = queue_.CanAccept(prompt); !s.ok()) {
    Refused(Refusal::kQueueFull);
    return s;
  }
  queue_.Push(std::move(job));
  cv_.notify_all();
  return absl::OkStatus();
}

void Scheduler::Drain() {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = true;
}

bool Scheduler::WaitIdle(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto idle = [this] { return queue_.empty() && running_requests_ == 0; };
  if (deadline == absl::InfiniteFuture()) {
    cv_.wait(lock, idle);
    return true;
  }
  return cv_.wait_until(lock, absl::ToChronoTime(deadline), idle);
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

LoadSnapshot Scheduler::Load() const {
  std::lock_guard<std::mutex> lock(mu_);
  LoadSnapshot s = load_;
  s.queued_requests = queue_.size();
  s.queued_tokens = queue_.tokens();
  s.draining = draining_;
  return s;
}

void Scheduler::Loop() {
  for (;;) {
    std::vector<std::unique_ptr<Job>> rejected, admitted;
    bool stop = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (running_.empty()) {
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      }
      stop = stop_;
      if (!stop) {
        TakeFromQueue(absl::Now(), rejected, admitted);
      }
    }
    if (stop) {
      break;
    }
    for (std::unique_ptr<Job>& job : rejected) {
      const absl::Status why = QueuedEnd(*job, absl::Now(), options_.max_queue_time);
      FinishQueued(std::move(job), why);
    }
    for (std::unique_ptr<Job>& job : admitted) {
      Start(std::move(job));
    }
    ReapRunning(absl::Now());
    if (!running_.empty()) {
      StepPlan plan = Plan();
      RunStep(plan);
    }
    PublishLoad();
    if (options_.step_delay > absl::ZeroDuration()) {
      absl::SleepFor(options_.step_delay);
    }
  }
  // Shutdown: nothing may be left without an answer.
  while (!running_.empty()) {
    Finish(running_.front().get(), absl::UnavailableError("the server is shutting down"));
  }
  std::vector<std::unique_ptr<Job>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left = queue_.RemoveIf([](const Job&) { return true; });
  }
  for (std::unique_ptr<Job>& job : left) {
    FinishQueued(std::move(job), absl::UnavailableError("the server is shutting down"));
  }
  PublishLoad();
}

void Scheduler::TakeFromQueue(absl::Time now, std::vector<std::unique_ptr<Job>>& rejected,
                              std::vector<std::unique_ptr<Job>>& admitted) {
  const absl::Duration max_wait = options_.max_queue_time;
  rejected = queue_.RemoveIf([&](const Job& j) {
    return j.control->cancelled() || now > j.request.deadline || now - j.arrival > max_wait;
  });
  // Strictly in arrival order: a large request at the head is not overtaken forever.
  while (Job* head = queue_.Front()) {
    if (running_sequences_ + head->request.n > options_.max_batch_size ||
        !kv_.Fits(head->kv_need)) {
      break;
    }
    kv_.Reserve(head->kv_need);
    running_sequences_ += head->request.n;
    ++running_requests_;
    ++load_.admitted;
    admitted.push_back(queue_.PopFront());
  }
}

void Scheduler::Start(std::unique_ptr<Job> job) {
  Job* j = job.get();
  running_.push_back(std::move(job));
  absl::StatusOr<SequenceId> root = engine_->AddSequence(
      SequenceOptions{j->request.activation, j->request.sampling.seed, /*sample_index=*/0});
  if (!root.ok()) {
    Finish(j, root.status());
    return;
  }
  j->root = *root;
}

void Scheduler::ReapRunning(absl::Time now) {
  for (auto it = running_.begin(); it != running_.end();) {
    Job* job = (it++)->get();  // Finish erases the job
    if (DeadlinePassed(*job, now)) {
      Finish(job, absl::DeadlineExceededError("the deadline passed during generation"));
    } else if (job->control->cancelled()) {
      Finish(job, absl::CancelledError("cancelled by the client"));
    }
  }
}

Scheduler::StepPlan Scheduler::Plan() const {
  StepPlan plan;
  int budget = options_.max_tokens_per_step;
  for (const std::unique_ptr<Job>& job : running_) {
    for (size_t i = 0; i < job->samples.size(); ++i) {
      const SampleState& s = job->samples[i];
      if (!s.stream.has_value() || s.stream->finished()) {
        continue;
      }
      plan.inputs.push_back(StepInput{s.seq, {s.stream->next_token()}, /*is_prompt=*/false, true});
      plan.jobs.push_back(job.get());
      plan.samples.push_back(static_cast<int>(i));
      --budget;
    }
  }
  // Prompt chunks of a fixed size (so a request's chunking never depends on the load), in
  // arrival order; at least one per step so prompts always make progress.
  bool any_prefill = false;
  for (const std::unique_ptr<Job>& job : running_) {
    if (!job->prefilling()) {
      continue;
    }
    const std::vector<int>& prompt = job->request.prompt;
    const int chunk =
        std::min(options_.prefill_chunk, static_cast<int>(prompt.size()) - job->prefilled);
    if (any_prefill && chunk > budget) {
      break;
    }
    const bool last = job->prefilled + chunk == static_cast<int>(prompt.size());
    plan.inputs.push_back(StepInput{
        job->root,
        std::vector<int>(prompt.begin() + job->prefilled, prompt.begin() + job->prefilled + chunk),
        /*is_prompt=*/true, /*want_logits=*/last});
    plan.jobs.push_back(job.get());
    plan.samples.push_back(-1);
    budget -= chunk;
    any_prefill = true;
  }
  return plan;
}

void Scheduler::RunStep(StepPlan& plan) {
  if (plan.inputs.empty()) {
    return;
  }
  const absl::Time now = absl::Now();
  for (Job* job : plan.jobs) {
    if (job->started == absl::InfinitePast()) {
      job->started = now;
    }
  }
  absl::StatusOr<StepOutput> out = engine_->Step(plan.inputs);
  if (out.ok() && options_.observer != nullptr) {
    Observe(plan, *out, absl::Now() - now);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++load_.steps;
  }
  if (!out.ok()) {
    // Fail every request of the step; the rest of the server goes on.
    std::vector<Job*> jobs = plan.jobs;
    std::sort(jobs.begin(), jobs.end());
    jobs.erase(std::unique(jobs.begin(), jobs.end()), jobs.end());
    // Out of memory stays RESOURCE_EXHAUSTED (the request may fit later); anything else
    // is the server's fault.
    const absl::Status status(absl::IsResourceExhausted(out.status())
                                  ? absl::StatusCode::kResourceExhausted
                                  : absl::StatusCode::kInternal,
                              absl::StrFormat("engine step failed: %s", out.status().message()));
    for (Job* job : jobs) {
      Finish(job, status);
    }
    return;
  }
  int64_t prompt_tokens = 0;
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    Job& job = *plan.jobs[i];
    if (i < out->per_input.size()) {
      job.stats.Add(out->per_input[i]);
    }
    if (plan.samples[i] >= 0) {
      Advance(job, plan.samples[i], out->logits[i]);
      continue;
    }
    job.prefilled += static_cast<int>(plan.inputs[i].tokens.size());
    prompt_tokens += static_cast<int64_t>(plan.inputs[i].tokens.size());
    if (job.prefilled == static_cast<int>(job.request.prompt.size())) {
      StartSamples(job, out->logits[i]);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    load_.prompt_tokens_computed += prompt_tokens;
  }
  // Each job once, in step order; a finished job leaves running_ (and plan.jobs dangles).
  std::vector<Job*> touched;
  for (Job* job : plan.jobs) {
    if (std::find(touched.begin(), touched.end(), job) == touched.end()) {
      touched.push_back(job);
    }
  }
  for (Job* job : touched) {
    Emit(*job);
    if (job->AllDone()) {
      Finish(job, absl::OkStatus());
    }
  }
}

void Scheduler::Finish(Job* job, const absl::Status& status) {
  auto it = std::find_if(running_.begin(), running_.end(),
                         [job](const std::unique_ptr<Job>& j) { return j.get() == job; });
  if (it == running_.end()) {
    return;
  }
  std::unique_ptr<Job> owned = std::move(*it);
  running_.erase(it);
  for (const SampleState& s : job->samples) {
    if (s.seq != 0 && s.seq != job->root) {
      (void)engine_->RemoveSequence(s.seq);
    }
  }
  if (job->root != 0) {
    (void)engine_->RemoveSequence(job->root);
  }
  kv_.Release(job->kv_need);
  running_sequences_ -= job->request.n;

  // A fork refused for lack of memory (a GPU's whole-context slot) is that request's
  // RESOURCE_EXHAUSTED, as a refused AddSequence is: it may fit later. Anything else the
  // engine refused mid-request is the server's fault.
  const absl::Status reported =
      status.ok() && !job->error.ok()
          ? absl::Status(absl::IsResourceExhausted(job->error)
                             ? absl::StatusCode::kResourceExhausted
                             : absl::StatusCode::kInternal,
                         absl::StrFormat("engine: %s", job->error.ToString()))
          : status;
  {
    // Before the answer goes out: a client that got it sees the resources freed.
    std::lock_guard<std::mutex> lock(mu_);
    load_.generated_tokens += static_cast<uint64_t>(job->completion_tokens);
    PublishLocked();
  }
  Report(*job, reported.code());
  if (reported.ok()) {
    job->sink->OnComplete(Summarize(*job, absl::Now()));
  } else {
    job->sink->OnComplete(reported);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    --running_requests_;  // after the answer: idle means every request was answered
  }
  cv_.notify_all();
}

RequestSummary Scheduler::Summarize(Job& job, absl::Time now) {
  RequestSummary sum;
  sum.request_id = job.request.request_id;
  sum.prompt_tokens = static_cast<int>(job.request.prompt.size());
  sum.prompt_tokens_computed = job.prefilled;
  sum.completion_tokens = job.completion_tokens;
  sum.queued = job.started - job.arrival;
  sum.time_to_first_token =
      job.first_token == absl::InfinitePast() ? now - job.arrival : job.first_token - job.arrival;
  sum.total = now - job.arrival;
  sum.stats = std::move(job.stats);
  sum.seed = job.request.sampling.seed;
  sum.activation = job.request.activation;
  return sum;
}

void Scheduler::FinishQueued(std::unique_ptr<Job> job, const absl::Status& status) {
  if (absl::IsResourceExhausted(status)) {
    std::lock_guard<std::mutex> lock(mu_);
    Refused(Refusal::kQueueTime);
  }
  Report(*job, status.code());
  job->sink->OnComplete(status);
  cv_.notify_all();
}

void Scheduler::Refused(Refusal why) {
  switch (why) {
    case Refusal::kQueueFull:
      ++load_.refused_queue_full;
      break;
    case Refusal::kQueueTime:
      ++load_.refused_queue_time;
      break;
    case Refusal::kKvBudget:
      ++load_.refused_kv_budget;
      break;
    case Refusal::kDraining:
      ++load_.refused_draining;
      break;
  }
  if (options_.observer != nullptr) options_.observer->OnRefusal(why);
}

void Scheduler::Observe(const StepPlan& plan, const StepOutput& out, absl::Duration took) const {
  std::vector<ActivationKind> activation(plan.inputs.size());
  int64_t tokens = 0;
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    activation[i] = plan.jobs[i]->request.activation.kind;
    tokens += static_cast<int64_t>(plan.inputs[i].tokens.size());
  }
  StepReport r;
  r.inputs = static_cast<int>(plan.inputs.size());
  r.tokens = tokens;
  r.duration = took;
  r.stats = &out.stats;
  r.per_input = absl::MakeConstSpan(out.per_input);
  r.activation = absl::MakeConstSpan(activation);
  options_.observer->OnStep(r);
}

void Scheduler::Report(const Job& job, absl::StatusCode code) const {
  if (options_.observer == nullptr) return;
  RequestReport r;
  r.request_id = job.request.request_id;
  r.rpc = job.request.rpc;
  r.activation = ActivationToString(job.request.activation);
  r.stats = &job.stats;
  r.code = code;
  r.n = job.request.n;
  r.prompt_tokens = static_cast<int>(job.request.prompt.size());
  r.completion_tokens = job.completion_tokens;
  for (const SampleState& s : job.samples) {
    if (s.stream.has_value())
      r.max_sample_tokens = std::max(r.max_sample_tokens, s.stream->drawn());
  }
  const absl::Time now = absl::Now();
  if (job.started != absl::InfinitePast()) r.queued = job.started - job.arrival;
  if (job.first_token != absl::InfinitePast())
    r.time_to_first_token = job.first_token - job.arrival;
  r.total = now - job.arrival;
  options_.observer->OnRequestDone(r);
}

void Scheduler::PublishLoad() {
  std::lock_guard<std::mutex> lock(mu_);
  PublishLocked();
}

void Scheduler::PublishLocked() {
  load_.running_requests = static_cast<int>(running_.size());
  load_.running_sequences = running_sequences_;
  load_.kv_reserved = kv_.reserved();
}

}  // namespace stocha::server
