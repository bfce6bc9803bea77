// The stocha.v1.Stocha gRPC service: thin translation between calls and the scheduler.
#ifndef STOCHA_SERVER_SERVICE_H_
#define STOCHA_SERVER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "server/io_executor.h"
#include "server/request_counters.h"
#include "server/request_from_proto.h"
#include "server/scheduler.h"
#include "server/tokenize_pool.h"
#include "stocha/v1/stocha.grpc.pb.h"

namespace stocha::server {

struct ServiceOptions {
  RequestLimits limits;
  std::string auth_token;    // non-empty: calls need "authorization: Bearer <token>"
  std::string model_source;  // reported by GetModelInfo
  // Streams send a message once this many new tokens of a sample are ready (or the sample
  // ends, or another sample's tokens queue behind): fewer, larger messages cost less CPU.
  int stream_interval = 1;
  // Serialized output a stream may hold that its client has not read; beyond it the stream
  // is cancelled with RESOURCE_EXHAUSTED (StreamReactor). 0: no limit.
  int64_t stream_buffer_bytes = 1 << 20;
  const RequestCounters* counters = nullptr;  // GetLoad's request outcomes; outlives the service
  // Threads that tokenize text (prompts, Tokenize) off the gRPC threads, and how many
  // requests may wait for them before RESOURCE_EXHAUSTED.
  int tokenize_threads = 2;
  int max_tokenize_queue = 64;
};

// Until a scheduler is attached (model loading, warm-up) and once draining starts, every
// call answers UNAVAILABLE. Thread-safety: all methods may be called concurrently.
class StochaService final : public v1::Stocha::CallbackService {
 public:
  explicit StochaService(ServiceOptions options);

  // The scheduler must outlive the gRPC server.
  void Attach(Scheduler* scheduler) { scheduler_.store(scheduler, std::memory_order_release); }
  void StartDraining() { draining_.store(true, std::memory_order_release); }

  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context,
                                     const v1::GenerateRequest* request,
                                     v1::GenerateResponse* response) override;
  grpc::ServerWriteReactor<v1::GenerateChunk>* GenerateStream(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerWriteReactor<v1::GenerateChunk>* MultiSample(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const v1::DetokenizeRequest* request,
                                       v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* GetLoad(grpc::CallbackServerContext* context,
                                    const v1::GetLoadRequest* request, v1::Load* response) override;

 private:
  // The scheduler if the call may proceed (authorized, model ready and, unless
  // `while_draining`, not draining); otherwise null and *status says why.
  Scheduler* Admit(grpc::CallbackServerContext* context, grpc::Status* status,
                   bool while_draining = false) const;
  absl::StatusOr<GenerationRequest> Convert(grpc::CallbackServerContext* context,
                                            const v1::GenerateRequest& request, RpcKind kind);
  grpc::ServerWriteReactor<v1::GenerateChunk>* Stream(grpc::CallbackServerContext* context,
                                                      const v1::GenerateRequest& request,
                                                      RpcKind kind);
  // Converts `request` and starts `reactor` (GenerateReactor or StreamReactor) with it, or
  // refuses it: inline for token ids, on the tokenize pool for a text prompt.
  template <typename Reactor>
  void ConvertAndStart(grpc::CallbackServerContext* context, const v1::GenerateRequest* request,
                       RpcKind kind, Reactor* reactor);

  const ServiceOptions options_;
  IoExecutor io_;          // outlives every call: the gRPC server is shut down before the service
  TokenizePool tokenize_;  // likewise
  std::atomic<Scheduler*> scheduler_{nullptr};
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_request_{1};
  const uint64_t id_prefix_;  // random per process, so request ids differ across restarts
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_SERVICE_H_
