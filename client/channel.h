// Client-side connection settings shared by stocha-cli and stocha-loadgen.
#ifndef STOCHA_CLIENT_CHANNEL_H_
#define STOCHA_CLIENT_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace stocha::client {

struct ChannelOptions {
  std::string target = "localhost:50051";
  bool tls = false;           // implied by any tls_* file
  std::string tls_ca_file;    // PEM roots; empty: the system's
  std::string tls_cert_file;  // client certificate (mutual TLS)
  std::string tls_key_file;
  std::string auth_token;  // sent as "authorization: Bearer <token>"
};

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options);

// Sets the deadline (always: a call never waits forever) and the bearer token.
void PrepareContext(grpc::ClientContext* context, const ChannelOptions& options,
                    absl::Duration timeout);

// "DEADLINE_EXCEEDED" etc.
const char* StatusCodeName(grpc::StatusCode code);

// The token from `token_file` if set, else from $STOCHA_AUTH_TOKEN, else empty.
absl::StatusOr<std::string> LoadToken(const std::string& token_file);

}  // namespace stocha::client

#endif  // STOCHA_CLIENT_CHANNEL_H_
