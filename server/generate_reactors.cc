// GenerateReactor and StreamReactor: scheduler sinks that finish gRPC calls.
#include "server/generate_reactors.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "server/proto_convert.h"
#include "server/status_util.h"

namespace stocha::server {

GenerateReactor::GenerateReactor(Scheduler* scheduler, IoExecutor* io,
                                 v1::GenerateResponse* response)
    : scheduler_(scheduler),
      io_(io),
      tokenizer_(scheduler->engine().tokenizer()),
      response_(response) {}

void GenerateReactor::Start(GenerationRequest request) {
  for (int i = 0; i < request.n; ++i) {
    response_->add_samples()->set_index(static_cast<uint32_t>(i));
  }
  // After a successful Submit `this` belongs to the scheduler's callbacks: not touched here.
  if (absl::Status s = scheduler_->Submit(std::move(request), this, control_); !s.ok()) {
    Finish(ToGrpcStatus(s));
  }
}

void GenerateReactor::OnChunk(SampleChunk chunk) { AppendChunk(chunk, tokenizer_, response_); }

void GenerateReactor::OnComplete(absl::StatusOr<RequestSummary> result) {
  grpc::Status status = ToGrpcStatus(result.status());
  if (result.ok()) SummaryToProto(*result, response_);
  // Serializing and sending the response happen on the I/O thread, not between steps.
  io_->Post([this, status = std::move(status)] { Finish(status); });
}

StreamReactor::StreamReactor(Scheduler* scheduler, IoExecutor* io, int stream_interval,
                             int64_t buffer_bytes)
    : scheduler_(scheduler),
      io_(io),
      tokenizer_(scheduler->engine().tokenizer()),
      stream_interval_(stream_interval),
      buffer_bytes_(buffer_bytes) {}

void StreamReactor::Start(GenerationRequest request) {
  if (absl::Status s = scheduler_->Submit(std::move(request), this, control_); !s.ok()) {
    Finish(ToGrpcStatus(s));
  }
}

void StreamReactor::OnChunk(SampleChunk chunk) {
  Action action;
  bool overflow = false;
  Scheduler* const scheduler = scheduler_;
  const std::shared_ptr<RequestControl> control = control_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (broken_) {
      return;
    }
    // A slow reader (or a busy machine) gets fewer, larger messages: new tokens of the same
    // sample join the last queued message unless that one is already being written.
    const bool back_in_flight = writing_ && pending_.size() == 1;
    v1::GenerateChunk* last = !pending_.empty() && !back_in_flight ? &pending_.back() : nullptr;
    if (last != nullptr && last->sample_index() == static_cast<uint32_t>(chunk.sample_index) &&
        last->finish_reason() == v1::FINISH_REASON_UNSPECIFIED && !last->has_summary()) {
      v1::GenerateChunk more;
      ChunkToProto(chunk, tokenizer_, &more);
      pending_bytes_ += static_cast<int64_t>(more.ByteSizeLong());
      last->mutable_text()->append(more.text());
      more.clear_text();
      last->MergeFrom(more);  // appends token ids and logprobs; sets the finish fields
    } else {
      ChunkToProto(chunk, tokenizer_, &pending_.emplace_back());
      pending_bytes_ += static_cast<int64_t>(pending_.back().ByteSizeLong());
    }
    if (buffer_bytes_ > 0 && pending_bytes_ > buffer_bytes_) {
      // The client does not take the output: stop generating for it, keep only the message
      // gRPC holds (if any), and finish with the reason once the scheduler lets go.
      overflow = true;
      broken_ = true;
      overflowed_ = pending_bytes_;
      pending_.resize(writing_ ? 1 : 0);
      pending_bytes_ = pending_.empty() ? 0 : static_cast<int64_t>(pending_.front().ByteSizeLong());
    }
    action = NextAction();
  }
  // Without an action the reactor may be finished and deleted by another thread as soon as
  // mu_ is released: touch nothing of it then (copies only). With one, it lives until the
  // action has run.
  if (overflow) {
    control->Cancel();
    scheduler->CountStreamOverflow();
  }
  if (action.any()) RunOnIo(action);
}

void StreamReactor::OnComplete(absl::StatusOr<RequestSummary> result) {
  Action action;
  {
    std::lock_guard<std::mutex> lock(mu_);
    completed_ = true;
    if (result.ok()) {
      if (!broken_) {
        SummaryToProto(*result, pending_.emplace_back().mutable_summary());
      }
      status_ = grpc::Status::OK;
    } else {
      status_ = ToGrpcStatus(result.status());
    }
    action = NextAction();
  }
  // See OnChunk: nothing of the reactor after unlocking unless an action is pending.
  if (action.any()) RunOnIo(action);
}

void StreamReactor::OnWriteDone(bool ok) {
  Action action;
  bool cancel = false;
  const std::shared_ptr<RequestControl> control = control_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    pending_bytes_ -=
        std::min(pending_bytes_, static_cast<int64_t>(pending_.front().ByteSizeLong()));
    pending_.pop_front();
    if (!ok && !broken_) {
      // The client is gone: stop generating for it; finish once the scheduler lets go.
      broken_ = true;
      pending_.clear();
      cancel = true;
    }
    action = NextAction();
  }
  if (cancel) {
    control->Cancel();  // a copy: the reactor may already be gone (see OnChunk)
  }
  if (action.any()) Run(action);
}

StreamReactor::Action StreamReactor::NextAction() {
  Action a;
  if (finished_) {
    return a;
  }
  if (overflowed_ > 0 && completed_) {
    // Now, not after the write gRPC holds: that one waits for a client that may never read.
    // gRPC sends the status after that message.
    finished_ = true;
    a.finish = true;
    a.status = grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrFormat("the client did not read the stream: %d bytes of output waiting, the "
                        "limit is %d (--stream_buffer_bytes)",
                        overflowed_, buffer_bytes_));
    return a;
  }
  if (writing_) {
    return a;
  }
  if (!pending_.empty() && !broken_) {
    const v1::GenerateChunk& front = pending_.front();
    const bool ready =
        pending_.size() >= 2 || completed_ || front.token_ids_size() >= stream_interval_ ||
        front.finish_reason() != v1::FINISH_REASON_UNSPECIFIED || front.has_summary();
    if (!ready) {
      return a;  // wait for more tokens of this sample
    }
    writing_ = true;
    a.write = &pending_.front();  // deque: stays put while later chunks are appended
  } else if (completed_) {
    finished_ = true;
    a.finish = true;
    a.status = broken_ ? grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke") : status_;
  }
  return a;
}

void StreamReactor::RunOnIo(const Action& action) {
  io_->Post([this, action] { Run(action); });
}

void StreamReactor::Run(const Action& action) {
  if (action.write != nullptr) {
    StartWrite(action.write);
  } else if (action.finish) {
    Finish(action.status);  // may delete this (via OnDone) at any time after
  }
}

}  // namespace stocha::server
