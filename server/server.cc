// StochaServer: ServerBuilder assembly and graceful drain.
#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"
#include "server/log.h"
#include "server/request_accounting.h"

namespace stocha::server {
namespace {

// After the drain: the longest wait for stocha calls to deliver their last messages, then
// the time connections get to close before the rest is cut.
constexpr absl::Duration kCloseWait = absl::Seconds(5);
constexpr absl::Duration kFlushTime = absl::Milliseconds(500);

// Request metadata (headers) of one call; a bearer token needs well under 1 KiB.
constexpr int kMaxMetadataBytes = 16 << 10;

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrFormat("%s: cannot read '%s'", what, path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& o) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
  }
  if (o.tls_cert_file.empty()) {
    if (!o.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("a client CA needs TLS (certificate and key files)");
    }
    return grpc::InsecureServerCredentials();
  }
  absl::StatusOr<std::string> cert = ReadFile(o.tls_cert_file, "TLS certificate");
  if (!cert.ok()) {
    return cert.status();
  }
  absl::StatusOr<std::string> key = ReadFile(o.tls_key_file, "TLS key");
  if (!key.ok()) {
    return key.status();
  }
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!o.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(o.tls_client_ca_file, "TLS client CA");
    if (!ca.ok()) {
      return ca.status();
    }
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

absl::Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    return absl::InternalError(absl::StrFormat("cannot write '%s'", tmp));
  }
  std::fprintf(f, "%d\n", port);
  std::fclose(f);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrFormat("cannot rename '%s' to '%s'", tmp, path));
  }
  return absl::OkStatus();
}

}  // namespace

namespace {
ServiceOptions WithCounters(ServiceOptions o, const RequestCounters* counters) {
  o.counters = counters;
  return o;
}
}  // namespace

StochaServer::StochaServer(const ServerOptions& options)
    : service_(WithCounters(options.service, &counters_)),
      reflection_v1_({v1::Stocha::service_full_name(), "grpc.health.v1.Health",
                      "grpc.reflection.v1.ServerReflection",
                      "grpc.reflection.v1alpha.ServerReflection"}) {}

StochaServer::~StochaServer() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now());
  }
}

absl::StatusOr<std::unique_ptr<StochaServer>> StochaServer::Start(const ServerOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = Credentials(options);
  if (!creds.ok()) {
    return creds.status();
  }
  auto s = std::unique_ptr<StochaServer>(new StochaServer(options));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = options.host.find(':') != std::string::npos
                                  ? absl::StrFormat("[%s]:%d", options.host, options.port)
                                  : absl::StrFormat("%s:%d", options.host, options.port);
  // No SO_REUSEPORT: a second server on the same port (or, with --port=0, a port the kernel
  // hands out twice) would silently take half of the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Every limit gRPC enforces before stocha code runs is set here, not left to defaults
  // (docs/API.md, "Limits").
  // The receive limit holds after decompression too (a gzip bomb ends RESOURCE_EXHAUSTED).
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.service.limits.max_request_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_IDLE_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options.max_connection_idle)));
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, kMaxMetadataBytes);
  // A peer that vanished (no FIN) is found within a minute and its calls cancelled.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddListeningPort(address, *creds, &s->port_);
  // One list of interceptors: the request accounting (every call counted once by RPC and
  // final code) and the drain's tracker of open stocha.v1 calls.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> chain;
  chain.push_back(CountingInterceptors(&s->counters_));
  chain.push_back(s->calls_.NewFactory());
  builder.experimental().SetInterceptorCreators(std::move(chain));
  builder.RegisterService(&s->service_);
  builder.RegisterService(&s->reflection_v1_);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrFormat("cannot listen on %s", address));
  }
  s->SetHealth(false);
  if (!options.port_file.empty()) {
    if (absl::Status st = WritePortFile(options.port_file, s->port_); !st.ok()) {
      return st;
    }
  }
  LogInfo("listening on %s (port %d, %s); health NOT_SERVING until the model is ready", address,
          s->port_, options.tls_cert_file.empty() ? "plaintext" : "TLS");
  return s;
}

void StochaServer::SetHealth(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) {
    return;
  }
  health->SetServingStatus(serving);  // "" (the whole server) and every service
  health->SetServingStatus(v1::Stocha::service_full_name(), serving);
}

void StochaServer::SetReady(Scheduler* scheduler) {
  scheduler_ = scheduler;
  service_.Attach(scheduler);
  SetHealth(true);
  LogInfo("ready: health SERVING");
}

void StochaServer::Drain(absl::Duration grace) {
  SetHealth(false);
  service_.StartDraining();
  if (scheduler_ != nullptr) {
    scheduler_->Drain();
    const LoadSnapshot load = scheduler_->Load();
    LogInfo("draining: %d running and %d queued requests, grace %s", load.running_requests,
            load.queued_requests, absl::FormatDuration(grace));
    if (!scheduler_->WaitIdle(absl::Now() + grace)) {
      LogWarning("grace period over: ending the requests still running with UNAVAILABLE");
    }
    scheduler_->Stop();
    LogInfo("every request answered; closing connections");
  }
  // Every request has its final status now. Give slow readers up to kCloseWait to take
  // the rest of their stream; then stop the server. Its deadline is a short flush time:
  // health Watch and reflection streams never end by themselves, and an idle client
  // notices GOAWAY only at its next read (C-core: backup poll, every 5 s), so waiting for
  // them would always take the whole deadline. docs/SERVING.md: the termination grace
  // period must exceed --drain_grace + kCloseWait + kFlushTime.
  if (!calls_.WaitNone(absl::Now() + kCloseWait)) {
    LogWarning("%d calls still open after %s: cutting them", calls_.open(),
               absl::FormatDuration(kCloseWait));
  }
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(kFlushTime));
  server_->Wait();
  server_.reset();
  LogInfo("drained");
}

}  // namespace stocha::server
