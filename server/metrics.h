// The Prometheus endpoint: prometheus-cpp's exposer serving /metrics from the server's own
// counters (RequestCounters, the scheduler's Load, ServingStats), read at scrape time.
#ifndef STOCHA_SERVER_METRICS_H_
#define STOCHA_SERVER_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/request_counters.h"
#include "server/scheduler.h"
#include "server/serving_stats.h"

namespace stocha::server {

struct MetricsOptions {
  std::string host = "0.0.0.0";  // plaintext HTTP: meant for the cluster network
  int port = 9400;               // 0: any free port (see port_file)
  std::string port_file;         // if set, the bound port is written there once listening
};

// The labels of stocha_model_info (bounded: one value each per process).
struct ModelLabels {
  std::string model;               // the model's file or directory name
  std::string architecture;        // "llama"
  std::string default_activation;  // e.g. "stocha:0.5"
  std::string recipe;              // training recipe from the model card; may be empty
  std::string backend;             // "cpu", "cuda:0 NVIDIA H200" (Engine::backend())
  std::string weight_type;         // "f32", "bf16", ...
  // The lowest whole-model sparsity expected of the default activation; exported as
  // stocha_expected_sparsity_min (for the alert) when > 0.
  double expected_sparsity_min = 0;
};

class MetricsCollector;

// Lifecycle: Start (process, build and request metrics) -> Attach once the model is loaded
// (everything else) -> Detach before the scheduler goes -> destroyed.
// Thread-safety: Attach and Detach may race with scrapes (one mutex).
class MetricsServer {
 public:
  // `counters` must outlive this. A port that is taken is an error naming it.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const MetricsOptions& options,
                                                              const RequestCounters* counters);
  ~MetricsServer();

  int port() const { return port_; }
  void Attach(const Scheduler* scheduler, const ServingStats* stats, const ModelLabels& labels);
  void Detach();

 private:
  MetricsServer() = default;
  std::shared_ptr<MetricsCollector> collector_;
  std::shared_ptr<void> exposer_;  // prometheus::Exposer, kept out of this header
  int port_ = 0;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_METRICS_H_
