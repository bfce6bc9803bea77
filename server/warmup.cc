// WarmUp: a blocking sink around one Submit.
#include "server/warmup.h"

#include <memory>

#include "absl/synchronization/notification.h"

namespace stocha::server {
namespace {

class WaitingSink final : public RequestSink {
 public:
  void OnChunk(SampleChunk /*chunk*/) override {}
  void OnComplete(absl::StatusOr<RequestSummary> result) override {
    status_ = result.status();
    done_.Notify();
  }
  absl::Status Wait(absl::Duration timeout) {
    if (!done_.WaitForNotificationWithTimeout(timeout)) {
      return absl::DeadlineExceededError("warm-up did not finish in time");
    }
    return status_;
  }

 private:
  absl::Status status_;  // written before Notify, read after it
  absl::Notification done_;
};

}  // namespace

absl::Status WarmUp(Scheduler& scheduler, absl::Duration timeout) {
  GenerationRequest r;
  r.request_id = "warm-up";
  r.prompt = {scheduler.engine().config().bos_token_id};
  r.max_new_tokens = 4;
  r.ignore_eos = true;
  r.activation = scheduler.engine().config().DefaultActivation();
  r.sampling.temperature = 0.0f;
  if (scheduler.engine().max_context() < 1 + r.max_new_tokens) {
    r.max_new_tokens = 0;
  }
  auto sink = std::make_unique<WaitingSink>();
  if (absl::Status s = scheduler.Submit(r, sink.get(), std::make_shared<RequestControl>());
      !s.ok()) {
    return s;
  }
  absl::Status s = sink->Wait(timeout);
  // On timeout the scheduler still holds the sink: keep it alive rather than dangle.
  if (absl::IsDeadlineExceeded(s)) {
    (void)sink.release();
  }
  return s;
}

}  // namespace stocha::server
