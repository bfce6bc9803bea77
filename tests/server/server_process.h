// Starts the real stocha-server binary as a child process on a free loopback port.
#ifndef STOCHA_TESTS_SERVER_SERVER_PROCESS_H_
#define STOCHA_TESTS_SERVER_SERVER_PROCESS_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace stocha::server::testing {

// The tiny test model (absent in a user's clone: tests skip).
std::string TestModelPath();
std::string TestTokenizerPath();
bool HaveTestModel();

// Thread-safety: one test thread drives it.
class ServerProcess {
 public:
  // Runs stocha-server --model=<tiny model> --host=127.0.0.1 --port=0 plus `flags`; waits
  // until the port is bound and, if `wait_serving`, until health says SERVING. Channels use
  // `credentials` (default: plaintext; with TLS they connect to "localhost").
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& flags, bool wait_serving = true,
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);
  // The same with `model_flags` (--model=..., and --tokenizer=... if wanted) instead of the
  // tiny model's --model and --tokenizer, e.g. to start with no --tokenizer at all.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartWithModel(
      const std::vector<std::string>& model_flags, const std::vector<std::string>& flags,
      bool wait_serving = true, std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);
  ~ServerProcess();  // SIGKILL if still running

  int port() const { return port_; }
  // The metrics endpoint's port once the server is SERVING, or 0 if metrics are off.
  int metrics_port() const;
  std::string target() const {
    return (credentials_ ? "localhost:" : "127.0.0.1:") + std::to_string(port_);
  }
  std::shared_ptr<grpc::Channel> NewChannel() const;  // a fresh connection
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // The server's health ("" service) or an error status.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Health() const;
  // OK once health answers SERVING; else the last answer or RPC error.
  absl::Status WaitServing(absl::Duration timeout) const;

  void Signal(int signal) const;
  // The exit code (or 128 + signal) once the process ended, or DEADLINE_EXCEEDED.
  absl::StatusOr<int> WaitExit(absl::Duration timeout);
  std::string Log() const;  // what the server wrote to stderr

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace stocha::server::testing

#endif  // STOCHA_TESTS_SERVER_SERVER_PROCESS_H_
