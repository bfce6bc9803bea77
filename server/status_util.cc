// ToGrpcStatus: code cast plus a bounded message.
#include "server/status_util.h"

#include <string>

namespace stocha::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  constexpr size_t kMaxMessage = 1024;  // keep trailers small, as TF Serving does
  std::string message(status.message().substr(0, kMaxMessage));
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

}  // namespace stocha::server
