// StochaService: auth, readiness, validation, then a reactor per generation call.
#include "server/service.h"

#include <chrono>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/generate_reactors.h"
#include "server/proto_convert.h"
#include "server/raw_rpc.h"
#include "server/request_accounting.h"
#include "server/request_limits.h"
#include "server/status_util.h"

namespace stocha::server {
namespace {

// A stream call refused before it started.
class RefusedStream final : public grpc::ServerWriteReactor<v1::GenerateChunk> {
 public:
  explicit RefusedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

absl::Time Deadline(const grpc::CallbackServerContext* context) {
  const std::chrono::system_clock::time_point d = context->deadline();
  // No deadline shows as the far future; keep absl::Time away from overflow.
  if (d >= std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 10)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(d);
}

// Compares in time independent of where the first difference is.
bool SameSecret(const grpc::string_ref& a, const std::string& b) {
  if (a.size() != b.size()) {
    return false;
  }
  unsigned char diff = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff |= static_cast<unsigned char>(a.data()[i] ^ b[i]);
  }
  return diff == 0;
}

constexpr char kTokenizeQueueFull[] =
    "too many requests waiting to be tokenized; retry with backoff";

}  // namespace

StochaService::StochaService(ServiceOptions options)
    : options_(std::move(options)),
      tokenize_(options_.tokenize_threads, options_.max_tokenize_queue),
      id_prefix_(absl::Uniform<uint32_t>(absl::BitGen())) {
  // Indexes are the methods' order in stocha.proto (as the generated code marks them).
  MarkMethodCallback(0, ParsedUnaryHandler(this, &StochaService::Generate));
  MarkMethodCallback(1, ParsedStreamHandler(this, &StochaService::GenerateStream));
  MarkMethodCallback(2, ParsedStreamHandler(this, &StochaService::MultiSample));
  MarkMethodCallback(3, ParsedUnaryHandler(this, &StochaService::Tokenize));
  MarkMethodCallback(4, ParsedUnaryHandler(this, &StochaService::Detokenize));
  MarkMethodCallback(5, ParsedUnaryHandler(this, &StochaService::GetModelInfo));
  MarkMethodCallback(6, ParsedUnaryHandler(this, &StochaService::GetLoad));
}

Scheduler* StochaService::Admit(grpc::CallbackServerContext* context, grpc::Status* status,
                                bool while_draining) const {
  if (!options_.auth_token.empty()) {
    const auto& md = context->client_metadata();
    auto it = md.find("authorization");
    if (it == md.end() || !SameSecret(it->second, "Bearer " + options_.auth_token)) {
      *status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                             "missing or wrong bearer token (metadata 'authorization')");
      return nullptr;
    }
  }
  if (!while_draining && draining_.load(std::memory_order_acquire)) {
    *status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "the server is shutting down; retry on another replica");
    return nullptr;
  }
  Scheduler* s = scheduler_.load(std::memory_order_acquire);
  if (s == nullptr) {
    *status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "the model is still loading; retry when health says SERVING");
  }
  return s;
}

absl::StatusOr<GenerationRequest> StochaService::Convert(grpc::CallbackServerContext* context,
                                                         const v1::GenerateRequest& request,
                                                         RpcKind kind) {
  thread_local absl::BitGen gen;
  Scheduler* s = scheduler_.load(std::memory_order_acquire);
  absl::StatusOr<GenerationRequest> r = RequestFromProto(
      request, kind, s->engine(), options_.limits, Deadline(context), absl::Uniform<uint64_t>(gen));
  if (r.ok()) {
    r->rpc = kind == RpcKind::kGenerate         ? Rpc::kGenerate
             : kind == RpcKind::kGenerateStream ? Rpc::kGenerateStream
                                                : Rpc::kMultiSample;
  }
  if (r.ok() && r->request_id.empty()) {
    r->request_id = absl::StrFormat("%08x-%d", id_prefix_, next_request_.fetch_add(1));
  }
  return r;
}

grpc::ServerUnaryReactor* StochaService::Generate(grpc::CallbackServerContext* context,
                                                  const v1::GenerateRequest* request,
                                                  v1::GenerateResponse* response) {
  grpc::Status status;
  Scheduler* s = Admit(context, &status);
  if (s == nullptr) {
    return FinishNow(context, status);
  }
  auto* reactor = new GenerateReactor(s, &io_, response);
  ConvertAndStart(context, request, RpcKind::kGenerate, reactor);
  return reactor;
}

template <typename Reactor>
void StochaService::ConvertAndStart(grpc::CallbackServerContext* context,
                                    const v1::GenerateRequest* request, RpcKind kind,
                                    Reactor* reactor) {
  auto run = [this, context, request, kind, reactor] {
    absl::StatusOr<GenerationRequest> r = Convert(context, *request, kind);
    if (!r.ok()) {
      reactor->Refuse(ToGrpcStatus(r.status()));
      return;
    }
    reactor->Start(std::move(*r));
  };
  if (request->prompt().empty()) {
    run();  // token ids: bounded by the context, cheap
  } else if (!tokenize_.TrySubmit(run)) {
    reactor->Refuse(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, kTokenizeQueueFull));
  }
}

grpc::ServerWriteReactor<v1::GenerateChunk>* StochaService::Stream(
    grpc::CallbackServerContext* context, const v1::GenerateRequest& request, RpcKind kind) {
  grpc::Status status;
  Scheduler* s = Admit(context, &status);
  if (s == nullptr) {
    return new RefusedStream(status);
  }
  auto* reactor =
      new StreamReactor(s, &io_, options_.stream_interval, options_.stream_buffer_bytes);
  ConvertAndStart(context, &request, kind, reactor);
  return reactor;
}

grpc::ServerWriteReactor<v1::GenerateChunk>* StochaService::GenerateStream(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  return Stream(context, *request, RpcKind::kGenerateStream);
}

grpc::ServerWriteReactor<v1::GenerateChunk>* StochaService::MultiSample(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  return Stream(context, *request, RpcKind::kMultiSample);
}

grpc::ServerUnaryReactor* StochaService::Tokenize(grpc::CallbackServerContext* context,
                                                  const v1::TokenizeRequest* request,
                                                  v1::TokenizeResponse* response) {
  grpc::Status status;
  Scheduler* s = Admit(context, &status);
  if (s == nullptr) {
    return FinishNow(context, status);
  }
  if (absl::Status st = CheckTokenizeRequest(*request, options_.limits, s->engine().max_context());
      !st.ok()) {
    return FinishNow(context, ToGrpcStatus(st));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool queued = tokenize_.TrySubmit([s, request, response, reactor] {
    absl::StatusOr<v1::TokenizeResponse> out = server::Tokenize(*request, s->engine());
    if (out.ok()) {
      *response = std::move(*out);
    }
    reactor->Finish(ToGrpcStatus(out.status()));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, kTokenizeQueueFull));
  }
  return reactor;
}

grpc::ServerUnaryReactor* StochaService::Detokenize(grpc::CallbackServerContext* context,
                                                    const v1::DetokenizeRequest* request,
                                                    v1::DetokenizeResponse* response) {
  grpc::Status status;
  Scheduler* s = Admit(context, &status);
  if (s == nullptr) {
    return FinishNow(context, status);
  }
  if (absl::Status st = CheckDetokenizeRequest(*request, s->engine().max_context()); !st.ok()) {
    return FinishNow(context, ToGrpcStatus(st));
  }
  absl::StatusOr<v1::DetokenizeResponse> out = server::Detokenize(*request, s->engine());
  if (out.ok()) {
    *response = std::move(*out);
  }
  return FinishNow(context, ToGrpcStatus(out.status()));
}

grpc::ServerUnaryReactor* StochaService::GetModelInfo(grpc::CallbackServerContext* context,
                                                      const v1::GetModelInfoRequest* /*request*/,
                                                      v1::ModelInfo* response) {
  grpc::Status status;
  Scheduler* s = Admit(context, &status);
  if (s == nullptr) {
    return FinishNow(context, status);
  }
  *response = ModelInfoToProto(s->engine(), options_.model_source, s->options(), options_.limits);
  response->set_server_version(STOCHA_VERSION);
  return FinishNow(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* StochaService::GetLoad(grpc::CallbackServerContext* context,
                                                 const v1::GetLoadRequest* /*request*/,
                                                 v1::Load* response) {
  grpc::Status status;
  // Answered while draining too: operators watch the drain through it.
  Scheduler* s = Admit(context, &status, /*while_draining=*/true);
  if (s == nullptr) {
    return FinishNow(context, status);
  }
  *response = LoadToProto(s->Load());
  if (options_.counters != nullptr) RequestCountsToLoad(*options_.counters, response);
  return FinishNow(context, grpc::Status::OK);
}

}  // namespace stocha::server
