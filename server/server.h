// The gRPC server around the service: listening, TLS, health, reflection and drain.
#ifndef STOCHA_SERVER_SERVER_H_
#define STOCHA_SERVER_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/call_tracker.h"
#include "server/reflection_v1.h"
#include "server/request_counters.h"
#include "server/scheduler.h"
#include "server/service.h"

namespace stocha::server {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 50051;           // 0: any free port (see port_file)
  std::string port_file;      // if set, the bound port is written there once listening
  std::string tls_cert_file;  // PEM; with tls_key_file turns TLS on
  std::string tls_key_file;
  std::string tls_client_ca_file;  // PEM; if set, clients must present a certificate
  // Connection limits (docs/API.md, "Limits"): calls open at once on one connection (more
  // wait in the client), and how long a connection with no call may stay open.
  int max_concurrent_streams = 100;
  absl::Duration max_connection_idle = absl::Minutes(5);
  ServiceOptions service;
};

// Lifecycle: Start (health NOT_SERVING, calls UNAVAILABLE) -> SetReady (SERVING) ->
// Drain (NOT_SERVING, new calls UNAVAILABLE, in-flight calls finish) -> destroyed.
// Thread-safety: call the lifecycle methods from one thread.
class StochaServer {
 public:
  static absl::StatusOr<std::unique_ptr<StochaServer>> Start(const ServerOptions& options);
  ~StochaServer();

  int port() const { return port_; }
  // Every finished call by RPC and final code (GetLoad and the metrics read these).
  const RequestCounters& counters() const { return counters_; }
  // Attaches a loaded, warmed-up scheduler (which must outlive this) and reports SERVING.
  void SetReady(Scheduler* scheduler);
  // Health NOT_SERVING and new calls UNAVAILABLE at once; running requests get up to
  // `grace` to finish, then whatever is left ends with UNAVAILABLE; then the server stops.
  void Drain(absl::Duration grace);

 private:
  explicit StochaServer(const ServerOptions& options);
  void SetHealth(bool serving);

  RequestCounters counters_;  // before service_, which reads it
  StochaService service_;
  ReflectionV1Service reflection_v1_;
  CallTracker calls_{"/stocha.v1.Stocha/"};
  std::unique_ptr<grpc::Server> server_;
  Scheduler* scheduler_ = nullptr;
  int port_ = 0;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_SERVER_H_
