// stocha-server: flags -> options, load and warm up the model, serve, drain on SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/time/time.h"
#include "engine/cpu_budget.h"
#include "engine/engine.h"
#include "engine/format/load_model.h"
#include "engine/model/weight_types.h"
#include "engine/step/predictor.h"
#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tools/device_flag.h"
#include "engine/tools/program_usage.h"
#include "server/batch_engine.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/request_limits.h"
#include "server/scheduler.h"
#include "server/server.h"
#include "server/serving_stats.h"
#include "server/warmup.h"

ABSL_FLAG(std::string, model, "", "Model: HF directory, .gguf file or llama2.c .bin (required)");
ABSL_FLAG(std::string, tokenizer, "", "Tokenizer file where the format keeps it apart (llama2.c)");
ABSL_FLAG(bool, bf16, false, "Hold the weights in BF16 (converted at load)");
ABSL_FLAG(std::string, quantize, "",
          "q8_0 | q4_0: quantize the matrices in memory at load (HF, llama2.c; a GGUF's "
          "block-typed tensors are kept); rows not a multiple of 32 keep F16");
ABSL_FLAG(bool, int8_activations, false,
          "Products over block-typed weights (Q8_0, Q4_0, K types) take 8-bit activations and "
          "integer sums (CPU; faster, approximate: docs/ENGINE.md \"8-bit activations\"); "
          "default: exact F32");
ABSL_FLAG(int, threads, 0,
          "Compute threads of the engine; 0 = the CPUs this process may use (affinity mask "
          "and cgroup CPU quota)");
ABSL_FLAG(int, max_context, 0, "Positions per sequence; 0 = the model's maximum");
ABSL_FLAG(bool, deterministic, false,
          "Batch-invariant engine: a request with a seed gives the same tokens whatever it is "
          "batched with (slightly slower)");

ABSL_FLAG(std::string, predictor, "",
          "Activity predictor file (stocha-predictor fit): ReLU rows compute the gate only "
          "for the neurons it ranks highest (opt-in, approximate; docs/SPARSE.md)");
ABSL_FLAG(double, predictor_density, 0.1, "With --predictor: fraction of F computed per row");

ABSL_FLAG(std::string, host, "0.0.0.0", "Address to listen on");
ABSL_FLAG(int, port, 50051, "gRPC port; 0 = any free port (see --port_file)");
ABSL_FLAG(std::string, port_file, "", "Write the bound port to this file once listening");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain; with --tls_key turns TLS on");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "", "PEM CA bundle; if set, clients need a certificate");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding a bearer token; if set, calls need 'authorization: Bearer <token>' "
          "(health and reflection stay open). The STOCHA_AUTH_TOKEN variable works too");

ABSL_FLAG(bool, metrics, true, "Serve Prometheus metrics over HTTP (see --metrics_port)");
ABSL_FLAG(std::string, metrics_host, "0.0.0.0",
          "Address of the metrics endpoint (plaintext HTTP: keep it on the cluster network)");
ABSL_FLAG(int, metrics_port, 9400, "Port of GET /metrics; 0 = any free port");
ABSL_FLAG(std::string, metrics_port_file, "",
          "Write the bound metrics port to this file once listening");
ABSL_FLAG(bool, log_requests, false,
          "One JSON line per finished generation request on stderr (id, rpc, code, tokens, "
          "timings, sparsity), to join with the metrics");
ABSL_FLAG(double, expected_sparsity_min, 0,
          "Lowest whole-model FFN sparsity expected of the model's default activation "
          "(from its model card); exported for the StochaSparsityBelowExpected alert; 0 = none");
ABSL_FLAG(int, max_concurrent_streams, 100,
          "Calls open at once on one connection (HTTP/2 streams); more wait in the client");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::Minutes(5),
          "A connection with no call for this long is closed (GOAWAY); clients reconnect");

ABSL_FLAG(int, max_batch_size, 32, "Sequences (samples) advanced together in one step");
ABSL_FLAG(int, max_tokens_per_step, 512, "Tokens in one step: decode tokens + prompt chunks");
ABSL_FLAG(int, prefill_chunk, 128,
          "Prompt tokens of one request per step, so long prompts do not stall decoding");
ABSL_FLAG(int, max_queue, 256, "Requests waiting for the batch; beyond: RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_queued_tokens, 1 << 20,
          "Prompt tokens waiting for the batch; beyond: RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, max_queue_time, absl::Seconds(30),
          "Longest wait for the batch; then RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, kv_cache_mb, 0,
          "KV-cache budget in MiB for admission; 0 = max_batch_size full contexts, on a GPU at "
          "most its free memory after the weights less a safety margin (docs/SERVING.md)");
ABSL_FLAG(int, max_new_tokens, 1024, "Per-request limit of max_new_tokens");
ABSL_FLAG(int, default_max_new_tokens, 64, "max_new_tokens when a request sets none");
ABSL_FLAG(int, max_n, 16, "Per-request limit of n (samples); at most --max_batch_size");
ABSL_FLAG(int, max_stop_strings, 8, "Per-request limit of stop strings");
ABSL_FLAG(int, max_stop_token_ids, 64, "Per-request limit of stop_token_ids");
ABSL_FLAG(int64_t, max_prompt_bytes, 0,
          "Bytes of text a request may ask to tokenize (prompt, Tokenize.text), checked before "
          "tokenizing; 0 = 16 per context position, at most --max_request_bytes - 64 KiB");
ABSL_FLAG(int64_t, max_request_bytes, 4 << 20,
          "Largest request message gRPC accepts (larger: RESOURCE_EXHAUSTED)");
ABSL_FLAG(int, tokenize_threads, 2,
          "Threads that tokenize text prompts off the gRPC threads (64 may wait; beyond: "
          "RESOURCE_EXHAUSTED)");
ABSL_FLAG(int, stream_interval, 1,
          "Streams send a message every N new tokens of a sample (and at its end); N > 1 "
          "trades time-to-each-token for less CPU per token");
ABSL_FLAG(int64_t, stream_buffer_bytes, 1 << 20,
          "Output bytes a stream may hold that its client has not read (beyond gRPC's flow-"
          "control window); more: the stream is cancelled with RESOURCE_EXHAUSTED; 0 = no limit");
ABSL_FLAG(absl::Duration, drain_grace, absl::Seconds(30),
          "On SIGTERM/SIGINT: how long running requests may take to finish");
ABSL_FLAG(absl::Duration, testing_step_delay, absl::ZeroDuration(),
          "Sleep after every engine step (tests and demos only)");

namespace stocha::server {
namespace {

constexpr char kUsage[] = R"(gRPC inference service (stocha.v1.Stocha).

  stocha-server --model=PATH [--tokenizer=PATH] [--port=50051] [flags]

Serves Generate, GenerateStream, MultiSample, Tokenize, Detokenize, GetModelInfo and
GetLoad, plus grpc.health.v1.Health (NOT_SERVING until the model is loaded and warmed up,
and again while draining) and server reflection. SIGTERM or SIGINT drains: new calls get
UNAVAILABLE, running ones get --drain_grace to finish, then the process exits 0.
docs/API.md describes the API, docs/SERVING.md the scheduler and every flag.)";

absl::StatusOr<std::string> AuthToken() {
  const std::string path = absl::GetFlag(FLAGS_auth_token_file);
  std::string token;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) {
      return absl::NotFoundError("--auth_token_file: cannot read '" + path + "'");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    token = ss.str();
  } else if (const char* env = std::getenv("STOCHA_AUTH_TOKEN"); env != nullptr) {
    token = env;
  }
  token = std::string(absl::StripAsciiWhitespace(token));
  if (!path.empty() && token.empty()) {
    return absl::InvalidArgumentError("the token file is empty");
  }
  return token;
}

SchedulerOptions SchedulerFlags() {
  SchedulerOptions o;
  o.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  o.max_tokens_per_step = absl::GetFlag(FLAGS_max_tokens_per_step);
  o.prefill_chunk = absl::GetFlag(FLAGS_prefill_chunk);
  o.queue.max_requests = absl::GetFlag(FLAGS_max_queue);
  o.queue.max_tokens = absl::GetFlag(FLAGS_max_queued_tokens);
  o.max_queue_time = absl::GetFlag(FLAGS_max_queue_time);
  o.kv_budget_bytes = absl::GetFlag(FLAGS_kv_cache_mb) * (int64_t{1} << 20);
  o.step_delay = absl::GetFlag(FLAGS_testing_step_delay);
  return o;
}

absl::StatusOr<ServerOptions> ServerFlags() {
  ServerOptions o;
  o.host = absl::GetFlag(FLAGS_host);
  o.port = absl::GetFlag(FLAGS_port);
  o.port_file = absl::GetFlag(FLAGS_port_file);
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  o.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  o.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  o.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  if (o.max_concurrent_streams < 1 || o.max_connection_idle < absl::Seconds(1) ||
      o.max_connection_idle > absl::Hours(24 * 24)) {
    return absl::InvalidArgumentError(
        "--max_concurrent_streams >= 1; --max_connection_idle in [1s, 24 days]");
  }
  absl::StatusOr<std::string> token = AuthToken();
  if (!token.ok()) {
    return token.status();
  }
  o.service.auth_token = *token;
  o.service.model_source = absl::GetFlag(FLAGS_model);
  o.service.stream_interval = absl::GetFlag(FLAGS_stream_interval);
  if (o.service.stream_interval < 1) {
    return absl::InvalidArgumentError("--stream_interval must be >= 1");
  }
  o.service.stream_buffer_bytes = absl::GetFlag(FLAGS_stream_buffer_bytes);
  if (o.service.stream_buffer_bytes < 0) {
    return absl::InvalidArgumentError("--stream_buffer_bytes must be >= 0");
  }
  RequestLimits& l = o.service.limits;
  l.max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  l.default_max_new_tokens =
      std::min(absl::GetFlag(FLAGS_default_max_new_tokens), l.max_new_tokens);
  l.max_n = std::min(absl::GetFlag(FLAGS_max_n), absl::GetFlag(FLAGS_max_batch_size));
  l.max_stop_strings = absl::GetFlag(FLAGS_max_stop_strings);
  l.max_stop_token_ids = absl::GetFlag(FLAGS_max_stop_token_ids);
  l.max_prompt_bytes = absl::GetFlag(FLAGS_max_prompt_bytes);
  l.max_request_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  o.service.tokenize_threads = absl::GetFlag(FLAGS_tokenize_threads);
  if (l.max_request_bytes < 2 * kRequestOverheadBytes || l.max_request_bytes > (1 << 30) ||
      l.max_prompt_bytes < 0 || l.max_prompt_bytes > l.max_request_bytes - kRequestOverheadBytes ||
      l.max_stop_token_ids < 0 || o.service.tokenize_threads < 1) {
    return absl::InvalidArgumentError(
        "--max_request_bytes in [128 KiB, 1 GiB]; --max_prompt_bytes in [0, "
        "--max_request_bytes - 64 KiB]; --max_stop_token_ids >= 0; --tokenize_threads >= 1");
  }
  if (l.max_new_tokens < 0 || l.default_max_new_tokens < 0 || l.max_n < 1) {
    return absl::InvalidArgumentError(
        "--max_new_tokens, --default_max_new_tokens >= 0; --max_n >= 1");
  }
  return o;
}

struct Loaded {
  std::unique_ptr<ServingStats> stats;  // the scheduler's observer: outlives it
  std::unique_ptr<Scheduler> scheduler;
  ModelLabels labels;
};

ModelLabels Labels(const Model& model, const std::string& path, const std::string& backend) {
  const ModelConfig& c = model.config();
  ModelLabels l;
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  l.model = p.substr(p.find_last_of('/') + 1);
  l.architecture = "llama";
  l.default_activation = ActivationToString(c.DefaultActivation());
  l.recipe = c.stocha.recipe;
  l.backend = backend;
  l.weight_type = WeightTypeSummary(model.weights());
  l.expected_sparsity_min = absl::GetFlag(FLAGS_expected_sparsity_min);
  return l;
}

absl::StatusOr<Loaded> LoadAndWarmUp() {
  const std::string path = absl::GetFlag(FLAGS_model);
  if (path.empty()) {
    return absl::InvalidArgumentError("--model is required (see --help)");
  }
  // Before the model loads: a bad --device costs no load time.
  absl::StatusOr<Device> device = DeviceFromFlag();
  if (!device.ok()) {
    return device.status();
  }
  LoadOptions lo;
  lo.tokenizer_path = absl::GetFlag(FLAGS_tokenizer);
  if (absl::GetFlag(FLAGS_bf16)) {
    lo.convert_weights_to = DType::kBF16;
  }
  if (const std::string q = absl::GetFlag(FLAGS_quantize); !q.empty()) {
    absl::StatusOr<DType> type = ParseQuantizeFlag(q);
    if (!type.ok()) {
      return type.status();
    }
    lo.quantize = *type;
  }
  const absl::Time t0 = absl::Now();
  absl::StatusOr<std::shared_ptr<const Model>> model = LoadModel(path, lo);
  if (!model.ok()) {
    return model.status();
  }
  EngineOptions eo;
  eo.device = *device;
  std::string graphs_note;
  eo.cuda_graphs = CudaGraphsFromFlag(*device, &graphs_note);
  if (!graphs_note.empty()) LogWarning("%s", graphs_note);
  eo.deterministic = absl::GetFlag(FLAGS_deterministic);
  if (absl::GetFlag(FLAGS_int8_activations)) eo.activation_format = ActivationFormat::kInt8;
  eo.num_threads = absl::GetFlag(FLAGS_threads);
  if (eo.num_threads > 0) {
    LogInfo("compute threads: %d (--threads)", eo.num_threads);
  } else {
    const CpuBudget budget = DefaultCpuBudget();
    eo.num_threads = budget.threads;
    LogInfo("compute threads: %d (%s; --threads overrides)", budget.threads, budget.source);
  }
  eo.max_context = absl::GetFlag(FLAGS_max_context);
  if (const std::string p = absl::GetFlag(FLAGS_predictor); !p.empty()) {
    absl::StatusOr<std::shared_ptr<const ActivityPredictor>> predictor =
        ActivityPredictor::Load(p, (*model)->config());
    if (!predictor.ok()) {
      return predictor.status();
    }
    eo.ffn.predictor = *predictor;
    eo.ffn.predictor_density = static_cast<float>(absl::GetFlag(FLAGS_predictor_density));
  }
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*model, eo);
  if (!engine.ok()) {
    return engine.status();
  }
  Loaded loaded;
  loaded.labels = Labels(**model, path, (*engine)->backend());
  if (device->kind == Device::Kind::kCpu) {
    LogInfo("backend: %s (--device=%s)", (*engine)->backend(), device->ToString());
  } else {
    LogInfo("backend: %s (--device=%s, --cuda_graphs=%s)", (*engine)->backend(), device->ToString(),
            eo.cuda_graphs ? "true" : "false");
  }
  loaded.stats = std::make_unique<ServingStats>((*model)->config().num_layers,
                                                (*model)->config().intermediate_size,
                                                absl::GetFlag(FLAGS_log_requests));
  SchedulerOptions so = SchedulerFlags();
  so.observer = loaded.stats.get();
  absl::StatusOr<std::unique_ptr<Scheduler>> scheduler =
      Scheduler::Create(WrapEngine(std::move(*engine)), so);
  if (!scheduler.ok()) {
    return scheduler.status();
  }
  const absl::Time t1 = absl::Now();
  if (absl::Status s = WarmUp(**scheduler); !s.ok()) {
    return s;
  }
  LogInfo(
      "model %s loaded in %s, warmed up in %s (deterministic=%d, KV budget %d positions, "
      "%s row kernels)",
      path, absl::FormatDuration(absl::Trunc(t1 - t0, absl::Milliseconds(1))),
      absl::FormatDuration(absl::Trunc(absl::Now() - t1, absl::Milliseconds(1))), eo.deterministic,
      (*scheduler)->Load().kv_capacity, CpuRowKernels());
  loaded.scheduler = std::move(*scheduler);
  return loaded;
}

// Null when --metrics=false.
absl::StatusOr<std::unique_ptr<MetricsServer>> StartMetrics(const RequestCounters& counters) {
  if (!absl::GetFlag(FLAGS_metrics)) {
    return nullptr;
  }
  MetricsOptions o;
  o.host = absl::GetFlag(FLAGS_metrics_host);
  o.port = absl::GetFlag(FLAGS_metrics_port);
  o.port_file = absl::GetFlag(FLAGS_metrics_port_file);
  absl::StatusOr<std::unique_ptr<MetricsServer>> m = MetricsServer::Start(o, &counters);
  if (m.ok()) {
    LogInfo("metrics on http://%s:%d/metrics (plaintext)", o.host, (*m)->port());
  }
  return m;
}

int Run() {
  // Block the shutdown signals before any thread starts, so that they stay pending for
  // sigwait below instead of killing a worker thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<ServerOptions> options = ServerFlags();
  if (!options.ok()) {
    LogError("%s", options.status().ToString());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<StochaServer>> server = StochaServer::Start(*options);
  if (!server.ok()) {
    LogError("%s", server.status().ToString());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<MetricsServer>> metrics = StartMetrics((*server)->counters());
  if (!metrics.ok()) {
    LogError("%s", metrics.status().ToString());
    return 1;
  }
  absl::StatusOr<Loaded> loaded = LoadAndWarmUp();
  if (!loaded.ok()) {
    LogError("%s", loaded.status().ToString());
    return 1;
  }
  std::unique_ptr<Scheduler>* scheduler = &loaded->scheduler;
  if (*metrics != nullptr) {
    (*metrics)->Attach(scheduler->get(), loaded->stats.get(), loaded->labels);
  }
  (*server)->SetReady(scheduler->get());
  int sig = 0;
  sigwait(&signals, &sig);
  LogInfo("signal %d: draining", sig);
  (*server)->Drain(absl::GetFlag(FLAGS_drain_grace));
  metrics->reset();  // reads the server's counters and the scheduler: goes first
  server->reset();   // no call can reach the scheduler any more
  scheduler->reset();
  LogInfo("stopped; exiting 0");
  return 0;
}

}  // namespace
}  // namespace stocha::server

int main(int argc, char** argv) {
  // This process links libprotobuf 3.21 for gRPC; libsentencepiece's embedded protobuf 3.14
  // would abort it. tokenizer.model files that need the library then fail with an error.
  stocha::SetLibSentencePieceUsable(false);
  stocha::SetProgramUsage(stocha::server::kUsage, "server/main.cc");
  absl::ParseCommandLine(argc, argv);
  return stocha::server::Run();
}
