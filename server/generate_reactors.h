// gRPC callback reactors that carry one generation request between a call and the scheduler.
#ifndef STOCHA_SERVER_GENERATE_REACTORS_H_
#define STOCHA_SERVER_GENERATE_REACTORS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "server/io_executor.h"
#include "server/request.h"
#include "server/scheduler.h"
#include "stocha/v1/stocha.pb.h"

namespace stocha::server {

// Unary Generate: collects chunks into the response, finishes when the scheduler does.
// A client cancel (or the deadline) cancels the scheduler request. Deletes itself in
// OnDone. Thread-safety: gRPC threads and the inference thread; internally locked.
class GenerateReactor final : public grpc::ServerUnaryReactor, public RequestSink {
 public:
  // gRPC calls made for the inference thread go through `io` (which must outlive this).
  GenerateReactor(Scheduler* scheduler, IoExecutor* io, v1::GenerateResponse* response);
  // Submits `request`; on refusal finishes the call with the scheduler's status.
  void Start(GenerationRequest request);
  // Instead of Start: finishes the call with `status` (a request that failed validation).
  void Refuse(const grpc::Status& status) { Finish(status); }

  void OnChunk(SampleChunk chunk) override;
  void OnComplete(absl::StatusOr<RequestSummary> result) override;
  void OnCancel() override { control_->Cancel(); }
  void OnDone() override { delete this; }

 private:
  Scheduler* const scheduler_;
  IoExecutor* const io_;
  const Tokenizer* const tokenizer_;
  v1::GenerateResponse* const response_;  // owned by gRPC; written on the inference thread
  const std::shared_ptr<RequestControl> control_ = std::make_shared<RequestControl>();
};

// GenerateStream / MultiSample: every chunk becomes a message, written one at a time in
// order; the summary goes last. A failed write or a cancel cancels the scheduler request;
// the call finishes only after the scheduler let go of it (so the reactor outlives every
// callback). Output the client has not taken yet (gRPC's flow control holds a write until
// the client reads) queues here, up to `buffer_bytes` of serialized chunks: beyond that the
// queue is dropped, the scheduler request cancelled (freeing its batch slot and KV) and the
// call finished with RESOURCE_EXHAUSTED naming --stream_buffer_bytes, which the client sees
// after the messages already handed to gRPC. Deletes itself in OnDone. Thread-safety: as
// GenerateReactor.
class StreamReactor final : public grpc::ServerWriteReactor<v1::GenerateChunk>, public RequestSink {
 public:
  // stream_interval, buffer_bytes (0: no limit): see ServiceOptions.
  StreamReactor(Scheduler* scheduler, IoExecutor* io, int stream_interval, int64_t buffer_bytes);
  void Start(GenerationRequest request);
  void Refuse(const grpc::Status& status) { Finish(status); }  // as GenerateReactor's

  void OnChunk(SampleChunk chunk) override;
  void OnComplete(absl::StatusOr<RequestSummary> result) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override { control_->Cancel(); }
  void OnDone() override { delete this; }

 private:
  // What to do once the lock is released (gRPC is never called under mu_).
  struct Action {
    const v1::GenerateChunk* write = nullptr;
    bool finish = false;
    grpc::Status status;
    bool any() const { return write != nullptr || finish; }
  };
  Action NextAction();  // with mu_ held
  void Run(const Action& action);
  void RunOnIo(const Action& action);  // from the inference thread; action.any()

  Scheduler* const scheduler_;
  IoExecutor* const io_;
  const Tokenizer* const tokenizer_;
  const int stream_interval_;
  const int64_t buffer_bytes_;
  const std::shared_ptr<RequestControl> control_ = std::make_shared<RequestControl>();
  std::mutex mu_;                          // guards the members below
  std::deque<v1::GenerateChunk> pending_;  // front: in flight if writing_
  int64_t pending_bytes_ = 0;              // serialized size of pending_ (approximately)
  bool writing_ = false;
  bool broken_ = false;     // a write failed, or the buffer overflowed: drop the rest
  int64_t overflowed_ = 0;  // > 0: the buffer overflowed with this many bytes queued
  bool completed_ = false;  // the scheduler let go of the request
  bool finished_ = false;
  grpc::Status status_;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_GENERATE_REACTORS_H_
