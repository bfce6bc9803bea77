// stocha-loadgen: throughput and latency percentiles of a stocha-server under load.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "client/latency_stats.h"
#include "client/load_driver.h"
#include "engine/tools/program_usage.h"

ABSL_FLAG(std::string, target, "localhost:50051", "Server address host:port");
ABSL_FLAG(bool, tls, false, "Use TLS (implied by --tls_ca)");
ABSL_FLAG(std::string, tls_ca, "", "PEM root certificates (default: the system's)");
ABSL_FLAG(std::string, token_file, "", "Bearer token file (default: $STOCHA_AUTH_TOKEN)");
ABSL_FLAG(int, concurrency, 1, "Closed loop: calls kept in flight (ignored with --rate)");
ABSL_FLAG(double, rate, 0, "Open loop: calls started per second; 0 = closed loop");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Start calls for this long ...");
ABSL_FLAG(int, requests, 0, "... or start exactly this many calls (0: by --duration)");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(120), "Deadline of every call");
ABSL_FLAG(std::string, rpc, "stream", "stream | generate | multi-sample");
ABSL_FLAG(std::string, prompt, "Once upon a time", "Prompt text");
ABSL_FLAG(int, max_new_tokens, 128, "New tokens per sample");
ABSL_FLAG(bool, ignore_eos, true, "Generate exactly --max_new_tokens (fixed work per call)");
ABSL_FLAG(std::optional<float>, temperature, std::nullopt, "Sampling temperature");
ABSL_FLAG(std::optional<uint64_t>, seed, std::nullopt, "Seed of every call");
ABSL_FLAG(std::string, activation, "", "silu | relu | stocha (default: the model's)");
ABSL_FLAG(int, n, 1, "Samples per call (multi-sample, generate)");
ABSL_FLAG(bool, json, false, "Print one JSON object instead of the table");
ABSL_FLAG(bool, progress, true, "Progress line on stderr while running");

namespace stocha::client {
namespace {

constexpr char kUsage[] = R"(load generator for stocha-server.

  stocha-loadgen --target=HOST:PORT --concurrency=8 --duration=30s
  stocha-loadgen --target=HOST:PORT --rate=20 --requests=500 --json

Prints throughput (requests/s, completion tokens/s), latency percentiles (p50, p90, p99)
of the whole call, the time to first token and the time per output token, and errors by
status code.)";

nlohmann::json ToJson(const Distribution& d) {
  return {{"count", d.count}, {"p50", d.p50},   {"p90", d.p90},
          {"p99", d.p99},     {"mean", d.mean}, {"max", d.max}};
}

// Waits until `channel` is connected. A refused connection or an unresolvable name fails
// after one retry (gRPC's reconnect backoff is about 1 s; a loaded listener can refuse one
// connect), a silent peer after `timeout`. WaitForConnected alone would retry a refused port
// until the timeout.
absl::Status Connect(grpc::Channel& channel, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  bool retried = false;
  for (grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
       state != GRPC_CHANNEL_READY; state = channel.GetState(/*try_to_connect=*/true)) {
    absl::Time wait_until = deadline;
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      if (retried || state == GRPC_CHANNEL_SHUTDOWN) {
        return absl::UnavailableError("connection failed (is the server running there?)");
      }
      retried = true;
      wait_until = std::min(deadline, absl::Now() + absl::Seconds(2));
    }
    if (!channel.WaitForStateChange(state, absl::ToChronoTime(wait_until))) {
      if (wait_until < deadline) {  // still failing after the retry
        return absl::UnavailableError("connection failed (is the server running there?)");
      }
      return absl::DeadlineExceededError(
          absl::StrCat("no connection within ", absl::FormatDuration(timeout)));
    }
  }
  return absl::OkStatus();
}

void PrintTable(const RunStats& s) {
  std::printf("requests: %d ok", s.ok);
  int errors = 0;
  for (const auto& [code, n] : s.errors) {
    errors += n;
  }
  std::printf(", %d errors", errors);
  for (const auto& [code, n] : s.errors) {
    std::printf(" %s=%d", code.c_str(), n);
  }
  std::printf(" in %.2f s\n", s.wall_s);
  std::printf("throughput: %.2f req/s, %.1f completion tok/s (prompt tokens computed: %lld)\n",
              s.requests_per_s, s.tokens_per_s, s.prompt_tokens_computed);
  std::printf("%-22s %9s %9s %9s %9s %9s\n", "latency (ms)", "p50", "p90", "p99", "mean", "max");
  auto row = [](const char* name, const Distribution& d) {
    std::printf("%-22s %9.2f %9.2f %9.2f %9.2f %9.2f\n", name, d.p50, d.p90, d.p99, d.mean, d.max);
  };
  row("total", s.total_ms);
  row("time to first token", s.ttft_ms);
  row("time per output token", s.tpot_ms);
}

int Run() {
  ChannelOptions co;
  co.target = absl::GetFlag(FLAGS_target);
  co.tls = absl::GetFlag(FLAGS_tls);
  co.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  absl::StatusOr<std::string> token = LoadToken(absl::GetFlag(FLAGS_token_file));
  if (!token.ok()) {
    std::fprintf(stderr, "stocha-loadgen: %s\n", token.status().ToString().c_str());
    return 2;
  }
  co.auth_token = *token;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(co);
  if (!channel.ok()) {
    std::fprintf(stderr, "stocha-loadgen: %s\n", channel.status().ToString().c_str());
    return 2;
  }
  LoadOptions o;
  o.concurrency = absl::GetFlag(FLAGS_concurrency);
  o.rate = absl::GetFlag(FLAGS_rate);
  o.duration = absl::GetFlag(FLAGS_duration);
  o.requests = absl::GetFlag(FLAGS_requests);
  o.deadline = absl::GetFlag(FLAGS_deadline);
  o.progress = absl::GetFlag(FLAGS_progress);
  const std::string rpc = absl::GetFlag(FLAGS_rpc);
  if (rpc == "stream") {
    o.rpc = LoadRpc::kStream;
  } else if (rpc == "generate") {
    o.rpc = LoadRpc::kGenerate;
  } else if (rpc == "multi-sample") {
    o.rpc = LoadRpc::kMultiSample;
  } else {
    std::fprintf(stderr, "stocha-loadgen: --rpc: unknown '%s'\n", rpc.c_str());
    return 2;
  }
  if (o.concurrency < 1) {
    std::fprintf(stderr, "stocha-loadgen: --concurrency must be >= 1\n");
    return 2;
  }
  if (o.rate < 0) {
    std::fprintf(stderr, "stocha-loadgen: --rate must be >= 0\n");
    return 2;
  }
  // Without these a typo could start no call at all and report the empty run as a success.
  if (o.requests < 0) {
    std::fprintf(stderr, "stocha-loadgen: --requests must be >= 0\n");
    return 2;
  }
  if (o.requests == 0 && o.duration <= absl::ZeroDuration()) {
    std::fprintf(stderr, "stocha-loadgen: --duration must be > 0 (or set --requests)\n");
    return 2;
  }
  v1::GenerateRequest& r = o.request;
  r.set_prompt(absl::GetFlag(FLAGS_prompt));
  r.set_max_new_tokens(absl::GetFlag(FLAGS_max_new_tokens));
  r.set_ignore_eos(absl::GetFlag(FLAGS_ignore_eos));
  if (auto t = absl::GetFlag(FLAGS_temperature)) {
    r.mutable_sampling()->set_temperature(*t);
  }
  if (auto s = absl::GetFlag(FLAGS_seed)) {
    r.mutable_sampling()->set_seed(*s);
  }
  if (!absl::GetFlag(FLAGS_activation).empty()) {
    r.mutable_activation()->set_kind(absl::GetFlag(FLAGS_activation));
  }
  if (o.rpc != LoadRpc::kStream) {
    r.set_n(absl::GetFlag(FLAGS_n));
  }

  // Connect before the clock starts: a client keeps its connection, so the first call's
  // TCP and HTTP/2 handshake is not part of any call's latency. Unreachable: say so now.
  const absl::Time connect_start = absl::Now();
  if (absl::Status st = Connect(**channel, absl::Seconds(10)); !st.ok()) {
    std::fprintf(stderr, "stocha-loadgen: cannot connect to %s: %s\n", co.target.c_str(),
                 std::string(st.message()).c_str());
    return 1;
  }
  const double connect_ms = absl::ToDoubleMilliseconds(absl::Now() - connect_start);
  LoadDriver driver(*channel, co, o);
  double wall_s = 0;
  const std::vector<CallResult> results = driver.Run(&wall_s);
  const RunStats s = Compute(results, wall_s);
  if (!absl::GetFlag(FLAGS_json)) {
    PrintTable(s);
  } else {
    nlohmann::json j = {
        {"target", co.target},
        {"rpc", rpc},
        {"concurrency", o.rate > 0 ? 0 : o.concurrency},
        {"rate", o.rate},
        {"max_new_tokens", r.max_new_tokens()},
        {"n", o.rpc == LoadRpc::kStream ? 1 : r.n()},
        {"connect_ms", connect_ms},
        {"wall_s", s.wall_s},
        {"ok", s.ok},
        {"errors", s.errors},
        {"requests_per_s", s.requests_per_s},
        {"tokens_per_s", s.tokens_per_s},
        {"completion_tokens", s.completion_tokens},
        {"prompt_tokens_computed", s.prompt_tokens_computed},
        {"total_ms", ToJson(s.total_ms)},
        {"ttft_ms", ToJson(s.ttft_ms)},
        {"tpot_ms", ToJson(s.tpot_ms)},
    };
    std::printf("%s\n", j.dump(2).c_str());
  }
  return s.errors.empty() ? 0 : 1;
}

}  // namespace
}  // namespace stocha::client

int main(int argc, char** argv) {
  stocha::SetProgramUsage(stocha::client::kUsage, "client/loadgen_main.cc");
  absl::ParseCommandLine(argc, argv);
  return stocha::client::Run();
}
