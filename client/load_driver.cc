// LoadDriver and its call reactors (gRPC callback client API).
#include "client/load_driver.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_format.h"

namespace stocha::client {
namespace {

double MsSince(absl::Time t) { return absl::ToDoubleMilliseconds(absl::Now() - t); }

// GenerateStream or MultiSample: time to first token = first chunk carrying tokens.
class StreamCall final : public grpc::ClientReadReactor<v1::GenerateChunk> {
 public:
  StreamCall(LoadDriver* driver, v1::Stocha::Stub* stub, const v1::GenerateRequest& request,
             bool multi, const ChannelOptions& co, absl::Duration deadline)
      : driver_(driver), request_(request) {
    PrepareContext(&context_, co, deadline);
    result_.samples = multi && request.has_n() ? std::max<int>(1, request.n()) : 1;
    start_ = absl::Now();
    if (multi) {
      stub->async()->MultiSample(&context_, &request_, this);
    } else {
      stub->async()->GenerateStream(&context_, &request_, this);
    }
    StartRead(&chunk_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      return;  // OnDone follows
    }
    if (result_.ttft_ms < 0 && chunk_.token_ids_size() > 0) {
      result_.ttft_ms = MsSince(start_);
    }
    tokens_ += chunk_.token_ids_size();
    if (chunk_.has_summary()) {
      summary_tokens_ = static_cast<int>(chunk_.summary().usage().completion_tokens());
      result_.prompt_tokens_computed =
          static_cast<int>(chunk_.summary().usage().prompt_tokens_computed());
    }
    StartRead(&chunk_);
  }
  void OnDone(const grpc::Status& s) override {
    result_.total_ms = MsSince(start_);
    result_.code = StatusCodeName(s.error_code());
    result_.completion_tokens = summary_tokens_ >= 0 ? summary_tokens_ : tokens_;
    driver_->Done(result_);
    delete this;
  }

 private:
  LoadDriver* driver_;
  grpc::ClientContext context_;
  v1::GenerateRequest request_;
  v1::GenerateChunk chunk_;
  absl::Time start_;
  CallResult result_;
  int tokens_ = 0;
  int summary_tokens_ = -1;
};

class UnaryCall final {
 public:
  UnaryCall(LoadDriver* driver, v1::Stocha::Stub* stub, const v1::GenerateRequest& request,
            const ChannelOptions& co, absl::Duration deadline)
      : driver_(driver), request_(request) {
    PrepareContext(&context_, co, deadline);
    start_ = absl::Now();
    stub->async()->Generate(&context_, &request_, &response_, [this](const grpc::Status& s) {
      CallResult r;
      r.total_ms = MsSince(start_);
      r.code = StatusCodeName(s.error_code());
      r.completion_tokens = static_cast<int>(response_.usage().completion_tokens());
      r.prompt_tokens_computed = static_cast<int>(response_.usage().prompt_tokens_computed());
      r.samples = std::max(1, response_.samples_size());
      driver_->Done(r);
      delete this;
    });
  }

 private:
  LoadDriver* driver_;
  grpc::ClientContext context_;
  v1::GenerateRequest request_;
  v1::GenerateResponse response_;
  absl::Time start_;
};

}  // namespace

LoadDriver::LoadDriver(const std::shared_ptr<grpc::Channel>& channel,
                       ChannelOptions channel_options, LoadOptions options)
    : stub_(v1::Stocha::NewStub(channel)),
      channel_options_(std::move(channel_options)),
      options_(std::move(options)) {}

bool LoadDriver::MayStart(absl::Time now) const {
  if (options_.requests > 0 && started_ >= options_.requests) {
    return false;
  }
  return now - start_ < options_.duration || options_.requests > 0;
}

bool LoadDriver::Reserve(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (!MayStart(now)) {
    return false;
  }
  ++started_;
  ++in_flight_;
  return true;
}

void LoadDriver::Launch() {
  switch (options_.rpc) {
    case LoadRpc::kGenerate:
      new UnaryCall(this, stub_.get(), options_.request, channel_options_, options_.deadline);
      break;
    case LoadRpc::kStream:
    case LoadRpc::kMultiSample:
      new StreamCall(this, stub_.get(), options_.request, options_.rpc == LoadRpc::kMultiSample,
                     channel_options_, options_.deadline);
      break;
  }
}

void LoadDriver::Done(const CallResult& result) {
  bool replace = false;
  {
    absl::MutexLock lock(&mu_);
    results_.push_back(result);
    --in_flight_;
    end_ = absl::Now();
    replace = options_.rate <= 0 && MayStart(end_);
    if (replace) {
      ++started_;  // closed loop: replace the finished call
      ++in_flight_;
    }
  }
  if (replace) {
    Launch();
  }
}

void LoadDriver::PrintProgress(absl::Time now) {
  int errors = 0;
  long long tokens = 0;
  for (const CallResult& r : results_) {
    if (r.code != "OK") {
      ++errors;
    }
    tokens += r.completion_tokens;
  }
  const double s = absl::ToDoubleSeconds(now - start_);
  // On a terminal the line is rewritten in place; in a log, one line per second.
  static const bool tty = isatty(STDERR_FILENO) != 0;
  std::fprintf(stderr, "%s[%6.1fs] done %d (errors %d), in flight %d, %.1f req/s, %.0f tok/s%s",
               tty ? "\r" : "", s, static_cast<int>(results_.size()), errors, in_flight_,
               s > 0 ? results_.size() / s : 0.0, s > 0 ? tokens / s : 0.0, tty ? "   " : "\n");
}

std::vector<CallResult> LoadDriver::Run(double* wall_s) {
  start_ = end_ = absl::Now();
  absl::Time next_progress = start_ + absl::Seconds(1);
  if (options_.rate <= 0) {
    for (int i = 0; i < options_.concurrency && Reserve(start_); ++i) {
      Launch();
    }
  }
  const absl::Duration interval =
      options_.rate > 0 ? absl::Seconds(1.0 / options_.rate) : absl::InfiniteDuration();
  absl::Time next_start = start_;
  for (;;) {
    absl::Time now = absl::Now();
    while (options_.rate > 0 && next_start <= now && Reserve(now)) {
      Launch();
      next_start += interval;
    }
    absl::MutexLock lock(&mu_);
    now = absl::Now();
    const bool more = options_.rate > 0 && MayStart(now);
    if (in_flight_ == 0 && !more) {
      break;
    }
    if (now >= next_progress) {  // advance even without output, or the wait below spins
      if (options_.progress) PrintProgress(now);
      next_progress += absl::Seconds(1);
    }
    absl::Time wake = next_progress;
    if (more && next_start < wake) {
      wake = next_start;
    }
    mu_.AwaitWithDeadline(absl::Condition(
                              +[](int* n) { return *n == 0; }, &in_flight_),
                          wake);
  }
  absl::MutexLock lock(&mu_);
  if (options_.progress) {
    PrintProgress(absl::Now());
    if (isatty(STDERR_FILENO)) std::fprintf(stderr, "\n");
  }
  *wall_s = absl::ToDoubleSeconds(end_ - start_);
  return results_;
}

}  // namespace stocha::client
