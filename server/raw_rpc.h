// Requests parsed by stocha, not by gRPC: undecodable bytes become INVALID_ARGUMENT.
#ifndef STOCHA_SERVER_RAW_RPC_H_
#define STOCHA_SERVER_RAW_RPC_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <string>

namespace stocha::server {

// A request message plus the outcome of parsing it. gRPC's typed callback handlers answer
// a message that fails to parse (bytes that are no message, invalid UTF-8 in a string
// field) with UNIMPLEMENTED and no text before any stocha code runs (grpc 1.51
// server_callback_handlers.h). Parsing into Parsed<Msg> never fails at the gRPC level:
// the handler sees `status` and answers INVALID_ARGUMENT naming the message type.
template <class Msg>
struct Parsed {
  Msg message;
  grpc::Status status;
};

// The handlers below, one per RPC shape, each parse then call the typed method. The
// service marks its methods with them (grpc::Service::MarkMethodCallback is protected).
template <class Service, class Req, class Resp>
grpc::internal::MethodHandler* ParsedUnaryHandler(
    Service* service,
    grpc::ServerUnaryReactor* (Service::*method)(grpc::CallbackServerContext*, const Req*, Resp*)) {
  return new grpc::internal::CallbackUnaryHandler<Parsed<Req>, Resp>(
      [service, method](grpc::CallbackServerContext* context, const Parsed<Req>* request,
                        Resp* response) -> grpc::ServerUnaryReactor* {
        if (!request->status.ok()) {
          grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
          reactor->Finish(request->status);
          return reactor;
        }
        return (service->*method)(context, &request->message, response);
      });
}

// A server-streaming call refused before it started.
template <class Resp>
class RefusedWriter final : public grpc::ServerWriteReactor<Resp> {
 public:
  explicit RefusedWriter(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

template <class Service, class Req, class Resp>
grpc::internal::MethodHandler* ParsedStreamHandler(
    Service* service,
    grpc::ServerWriteReactor<Resp>* (Service::*method)(grpc::CallbackServerContext*, const Req*)) {
  return new grpc::internal::CallbackServerStreamingHandler<Parsed<Req>, Resp>(
      [service, method](grpc::CallbackServerContext* context,
                        const Parsed<Req>* request) -> grpc::ServerWriteReactor<Resp>* {
        if (!request->status.ok()) {
          return new RefusedWriter<Resp>(request->status);
        }
        return (service->*method)(context, &request->message);
      });
}

}  // namespace stocha::server

namespace grpc {

// Deserialization of Parsed<Msg> (serialization is never needed: requests only arrive).
template <class Msg>
class SerializationTraits<stocha::server::Parsed<Msg>, void> {
 public:
  static Status Deserialize(ByteBuffer* buffer, stocha::server::Parsed<Msg>* out) {
    const Status s = GenericDeserialize<ProtoBufferReader, Msg>(buffer, &out->message);
    if (!s.ok()) {
      out->status = Status(StatusCode::INVALID_ARGUMENT,
                           "request: not a valid " + Msg::descriptor()->full_name() +
                               " (malformed protobuf bytes, or invalid UTF-8 in a string field)");
    }
    return Status::OK;
  }
};

}  // namespace grpc

#endif  // STOCHA_SERVER_RAW_RPC_H_
