// Counting at the transport: a gRPC server interceptor that records every call's final
// status in RequestCounters, and GetLoad's request fields read back from the same table.
#ifndef STOCHA_SERVER_REQUEST_ACCOUNTING_H_
#define STOCHA_SERVER_REQUEST_ACCOUNTING_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "server/request_counters.h"
#include "stocha/v1/stocha.pb.h"

namespace stocha::server {

// One interceptor per call; it records the status the server sends (hook PRE_SEND_STATUS,
// which every call passes exactly once, whatever ended it: a handler's refusal, the
// scheduler's answer, a cancel or a deadline). `counters` must outlive the gRPC server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> CountingInterceptors(
    RequestCounters* counters);

// Sets Load's request_* outcome fields (over the generation RPCs: completed = OK,
// cancelled, deadline_exceeded, rejected = RESOURCE_EXHAUSTED, failed = every other code)
// and appends the whole table (every RPC, every code seen) to `requests`.
void RequestCountsToLoad(const RequestCounters& counters, v1::Load* load);

}  // namespace stocha::server

#endif  // STOCHA_SERVER_REQUEST_ACCOUNTING_H_
