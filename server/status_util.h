// The one place where absl::Status becomes grpc::Status.
#ifndef STOCHA_SERVER_STATUS_UTIL_H_
#define STOCHA_SERVER_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace stocha::server {

// The canonical codes are shared, so the code maps one to one; long messages are cut.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace stocha::server

#endif  // STOCHA_SERVER_STATUS_UTIL_H_
