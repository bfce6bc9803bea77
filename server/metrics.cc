// MetricsCollector: builds every metric family from the server's counters at scrape time
// (nothing on the request path touches prometheus-cpp); MetricsServer: the exposer.
#include "server/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/metric_family.h"

namespace stocha::server {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

namespace {

constexpr const char* kPhases[kNumPhases] = {"prompt", "generated"};
constexpr const char* kActivations[kNumActivations] = {"silu", "relu", "stocha"};

class Families {
 public:
  MetricFamily& Add(std::string name, std::string help, MetricType type) {
    out_.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
    return out_.back();
  }
  void Value(MetricFamily& f, double v, Labels labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter) {
      m.counter.value = v;
    } else {
      m.gauge.value = v;
    }
    f.metric.push_back(std::move(m));
  }
  void One(std::string name, std::string help, MetricType type, double v) {
    Value(Add(std::move(name), std::move(help), type), v);
  }
  void Histo(std::string name, std::string help, const Histogram& h) {
    MetricFamily& f = Add(std::move(name), std::move(help), MetricType::Histogram);
    ClientMetric m;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      m.histogram.bucket.push_back(ClientMetric::Bucket{
          cumulative, i < h.bounds.size() ? h.bounds[i] : std::numeric_limits<double>::infinity()});
    }
    m.histogram.sample_count = h.count;
    m.histogram.sample_sum = h.sum;
    f.metric.push_back(std::move(m));
  }
  std::vector<MetricFamily> Take() { return std::move(out_); }

 private:
  std::vector<MetricFamily> out_;
};

// The standard process_* metrics (client_golang's names) from /proc/self.
void ProcessMetrics(Families& f) {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return;
  std::istringstream fields(stat.substr(paren + 2));
  // Fields from 3 (state) on; utime 14, stime 15, starttime 22, vsize 23, rss 24.
  std::vector<std::string> v;
  for (std::string s; fields >> s;) v.push_back(s);
  auto field = [&](int n) { return n - 3 < static_cast<int>(v.size()) ? std::stod(v[n - 3]) : 0; };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  double boot = 0;
  std::ifstream st("/proc/stat");
  for (std::string line; std::getline(st, line);) {
    if (line.rfind("btime ", 0) == 0) boot = std::stod(line.substr(6));
  }
  f.One("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
        MetricType::Counter, (field(14) + field(15)) / ticks);
  f.One("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
        MetricType::Gauge, boot + field(22) / ticks);
  f.One("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
        field(23));
  f.One("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
        field(24) * page);
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++fds;
    }
    closedir(d);
    --fds;  // the directory stream itself
  }
  f.One("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, fds);
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    f.One("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
          static_cast<double>(lim.rlim_cur));
  }
}

void RequestMetrics(Families& f, const RequestCounters& c) {
  MetricFamily& req =
      f.Add("stocha_requests_total",
            "Finished calls by RPC and final gRPC status code; each call counted once "
            "(the same table GetLoad reports).",
            MetricType::Counter);
  for (int r = 0; r < kNumRpcs; ++r) {
    for (int code = 0; code < kNumStatusCodes; ++code) {
      const uint64_t n = c.Get(static_cast<Rpc>(r), code);
      // Every code of the service's RPCs from the start (7 x 17 series), so that rate()
      // sees a code's first calls (a series born at 3 shows no increase); "other" when seen.
      if (n == 0 && static_cast<Rpc>(r) == Rpc::kOther) continue;
      f.Value(req, static_cast<double>(n),
              {{"code", std::string(StatusCodeName(code))},
               {"rpc", std::string(RpcName(static_cast<Rpc>(r)))}});
    }
  }
}

void SchedulerMetrics(Families& f, const LoadSnapshot& l) {
  f.One("stocha_requests_running", "Requests admitted to the batch and not yet answered.",
        MetricType::Gauge, l.running_requests);
  f.One("stocha_sequences_running", "Sequences (samples) in the batch.", MetricType::Gauge,
        l.running_sequences);
  f.One("stocha_requests_queued", "Requests waiting for the batch.", MetricType::Gauge,
        l.queued_requests);
  f.One("stocha_queued_prompt_tokens", "Prompt tokens of the requests waiting for the batch.",
        MetricType::Gauge, static_cast<double>(l.queued_tokens));
  f.One("stocha_kv_cache_positions_used", "KV-cache positions reserved by running requests.",
        MetricType::Gauge, static_cast<double>(l.kv_reserved));
  f.One("stocha_kv_cache_positions_capacity", "KV-cache positions of the admission budget.",
        MetricType::Gauge, static_cast<double>(l.kv_capacity));
  f.One("stocha_draining", "1 while the server drains (refuses new calls).", MetricType::Gauge,
        l.draining ? 1 : 0);
  f.One("stocha_requests_admitted_total", "Requests admitted to the batch (warm-up included).",
        MetricType::Counter, static_cast<double>(l.admitted));
  f.One("stocha_engine_steps_total", "Engine steps (warm-up included).", MetricType::Counter,
        static_cast<double>(l.steps));
  f.One("stocha_prompt_tokens_computed_total",
        "Prompt tokens run through the model (warm-up included).", MetricType::Counter,
        static_cast<double>(l.prompt_tokens_computed));
  f.One("stocha_generated_tokens_total",
        "Tokens generated over all samples, stop tokens included (warm-up included).",
        MetricType::Counter, static_cast<double>(l.generated_tokens));
  MetricFamily& refused =
      f.Add("stocha_refusals_total",
            "Generation requests refused or dropped without running them, by reason; "
            "stream_buffer: streams cancelled while running, their client not reading.",
            MetricType::Counter);
  f.Value(refused, static_cast<double>(l.refused_queue_full), {{"reason", "queue_full"}});
  f.Value(refused, static_cast<double>(l.refused_queue_time), {{"reason", "queue_time"}});
  f.Value(refused, static_cast<double>(l.refused_kv_budget), {{"reason", "kv_budget"}});
  f.Value(refused, static_cast<double>(l.refused_draining), {{"reason", "draining"}});
  f.Value(refused, static_cast<double>(l.dropped_stream_buffer), {{"reason", "stream_buffer"}});
}

void LayerMetrics(Families& f, const ServingSnapshot& s) {
  MetricFamily& zeros =
      f.Add("stocha_ffn_activations_zero_total",
            "FFN hidden activations that were exactly zero, by layer, phase and activation mode.",
            MetricType::Counter);
  MetricFamily& total = f.Add("stocha_ffn_activations_total",
                              "FFN hidden activations (tokens * F), by layer, phase and "
                              "activation mode; zero/total is the layer's sparsity.",
                              MetricType::Counter);
  MetricFamily& calls = f.Add("stocha_ffn_calls_total",
                              "FFN calls (one per layer per step) by path.", MetricType::Counter);
  MetricFamily& attn = f.Add("stocha_layer_attention_seconds_total",
                             "Seconds in attention, by layer.", MetricType::Counter);
  MetricFamily& ffn =
      f.Add("stocha_layer_ffn_seconds_total", "Seconds in the FFN, by layer.", MetricType::Counter);
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const LayerCounters& c = s.layers[l];
    const std::string layer = std::to_string(l);
    for (int p = 0; p < kNumPhases; ++p) {
      for (int a = 0; a < kNumActivations; ++a) {
        Labels labels = {{"activation", kActivations[a]}, {"layer", layer}, {"phase", kPhases[p]}};
        f.Value(zeros, static_cast<double>(c.zeros[p][a]), labels);
        f.Value(total, static_cast<double>(c.total[p][a]), std::move(labels));
      }
    }
    f.Value(calls, static_cast<double>(c.dense_calls), {{"layer", layer}, {"path", "dense"}});
    f.Value(calls, static_cast<double>(c.sparse_calls), {{"layer", layer}, {"path", "sparse"}});
    f.Value(calls, static_cast<double>(c.predictor_calls),
            {{"layer", layer}, {"path", "predictor"}});
    f.Value(attn, c.attention_seconds, {{"layer", layer}});
    f.Value(ffn, c.ffn_seconds, {{"layer", layer}});
  }
  const ServingHistograms& h = s.histograms;
  f.Histo("stocha_request_queue_seconds", "Arrival to the first prefill step.", h.queue_seconds);
  f.Histo("stocha_request_ttft_seconds", "Arrival to the first generated token.", h.ttft_seconds);
  f.Histo("stocha_request_tpot_seconds",
          "Time per output token after the first (longest sample), OK requests.", h.tpot_seconds);
  f.Histo("stocha_request_duration_seconds", "Arrival to the answer, OK requests.", h.e2e_seconds);
  f.Histo("stocha_request_prompt_tokens", "Prompt length, OK requests.", h.prompt_tokens);
  f.Histo("stocha_request_generated_tokens", "Generated tokens over all samples, OK requests.",
          h.generated_tokens);
  f.Histo("stocha_step_batch_inputs", "Inputs (decode samples + prompt chunks) per engine step.",
          h.batch_inputs);
  f.Histo("stocha_step_tokens", "Tokens per engine step.", h.step_tokens);
  f.Histo("stocha_step_seconds", "Seconds per engine step.", h.step_seconds);
  f.Histo("stocha_ffn_union_density",
          "Per layer per step: neurons active in at least one row of the batch / F.",
          h.ffn_union_density);
  f.One("stocha_samples_total", "Samples of finished (OK) requests: n each.", MetricType::Counter,
        static_cast<double>(s.samples));
}

}  // namespace

class MetricsCollector final : public prometheus::Collectable {
 public:
  explicit MetricsCollector(const RequestCounters* counters) : counters_(counters) {}

  void Attach(const Scheduler* scheduler, const ServingStats* stats, const ModelLabels& labels) {
    std::lock_guard<std::mutex> lock(mu_);
    scheduler_ = scheduler;
    stats_ = stats;
    labels_ = labels;
  }
  void Detach() { Attach(nullptr, nullptr, ModelLabels{}); }

  std::vector<MetricFamily> Collect() const override {
    Families f;
    MetricFamily& build =
        f.Add("stocha_build_info", "stocha's version (value 1).", MetricType::Gauge);
    f.Value(build, 1, {{"version", STOCHA_VERSION}});
    ProcessMetrics(f);
    RequestMetrics(f, *counters_);
    std::lock_guard<std::mutex> lock(mu_);
    f.One("stocha_ready", "1 once the model is loaded and warmed up.", MetricType::Gauge,
          scheduler_ != nullptr ? 1 : 0);
    if (scheduler_ == nullptr) return f.Take();
    MetricFamily& info =
        f.Add("stocha_model_info", "The served model (value 1).", MetricType::Gauge);
    f.Value(info, 1,
            {{"activation", labels_.default_activation},
             {"architecture", labels_.architecture},
             {"backend", labels_.backend},
             {"model", labels_.model},
             {"recipe", labels_.recipe},
             {"weight_type", labels_.weight_type}});
    if (labels_.expected_sparsity_min > 0) {
      MetricFamily& e = f.Add("stocha_expected_sparsity_min",
                              "Lowest whole-model FFN sparsity expected of the activation "
                              "(--expected_sparsity_min).",
                              MetricType::Gauge);
      std::string kind = labels_.default_activation.substr(0, labels_.default_activation.find(':'));
      f.Value(e, labels_.expected_sparsity_min, {{"activation", kind}});
    }
    if (const std::optional<DeviceMemoryInfo> m = scheduler_->engine().DeviceMemory(); m) {
      f.One("stocha_device_memory_used_bytes",
            "GPU memory in use on the engine's device (cudaMemGetInfo: total - free; all "
            "processes).",
            MetricType::Gauge, static_cast<double>(m->used_bytes()));
      f.One("stocha_device_memory_free_bytes",
            "GPU memory free on the engine's device (cudaMemGetInfo).", MetricType::Gauge,
            static_cast<double>(m->free_bytes));
    }
    SchedulerMetrics(f, scheduler_->Load());
    if (stats_ != nullptr) LayerMetrics(f, stats_->Snapshot());
    return f.Take();
  }

 private:
  const RequestCounters* const counters_;
  mutable std::mutex mu_;  // guards the members below
  const Scheduler* scheduler_ = nullptr;
  const ServingStats* stats_ = nullptr;
  ModelLabels labels_;
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const MetricsOptions& options, const RequestCounters* counters) {
  const std::string address = options.host.find(':') != std::string::npos
                                  ? absl::StrFormat("[%s]:%d", options.host, options.port)
                                  : absl::StrFormat("%s:%d", options.host, options.port);
  auto m = std::unique_ptr<MetricsServer>(new MetricsServer());
  m->collector_ = std::make_shared<MetricsCollector>(counters);
  std::shared_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_shared<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrFormat(
        "metrics: cannot listen on %s (port %d taken? --metrics_port, or --metrics=false): %s",
        address, options.port, e.what()));
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrFormat("metrics: cannot listen on %s", address));
  }
  exposer->RegisterCollectable(m->collector_, "/metrics");
  m->port_ = ports.front();
  m->exposer_ = exposer;
  if (!options.port_file.empty()) {
    const std::string tmp = options.port_file + ".tmp";
    FILE* fp = std::fopen(tmp.c_str(), "w");
    if (fp == nullptr) return absl::InternalError(absl::StrFormat("cannot write '%s'", tmp));
    std::fprintf(fp, "%d\n", m->port_);
    std::fclose(fp);
    if (std::rename(tmp.c_str(), options.port_file.c_str()) != 0) {
      return absl::InternalError(absl::StrFormat("cannot rename '%s'", tmp));
    }
  }
  return m;
}

MetricsServer::~MetricsServer() {
  exposer_.reset();  // stops serving before the collector goes
}

void MetricsServer::Attach(const Scheduler* scheduler, const ServingStats* stats,
                           const ModelLabels& labels) {
  collector_->Attach(scheduler, stats, labels);
}

void MetricsServer::Detach() { collector_->Detach(); }

}  // namespace stocha::server
