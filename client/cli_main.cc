// stocha-cli: generate, stream, multi-sample, health, info (and tokenize, load) over gRPC.
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "engine/tools/program_usage.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "stocha/v1/stocha.grpc.pb.h"

ABSL_FLAG(std::string, target, "localhost:50051", "Server address host:port");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(60), "Deadline of every call");
ABSL_FLAG(bool, tls, false, "Use TLS (implied by --tls_ca / --tls_cert)");
ABSL_FLAG(std::string, tls_ca, "", "PEM root certificates (default: the system's)");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate (mutual TLS)");
ABSL_FLAG(std::string, tls_key, "", "PEM client key");
ABSL_FLAG(std::string, token_file, "", "Bearer token file (default: $STOCHA_AUTH_TOKEN)");
ABSL_FLAG(std::string, prompt, "", "Prompt text (or give it as the argument after the command)");
ABSL_FLAG(std::optional<int>, max_new_tokens, std::nullopt, "New tokens (server default 64)");
ABSL_FLAG(std::optional<float>, temperature, std::nullopt, "0 = greedy (server default 1.0)");
ABSL_FLAG(std::optional<int>, top_k, std::nullopt, "Top-k, 0 = off");
ABSL_FLAG(std::optional<float>, top_p, std::nullopt, "Nucleus sampling in (0, 1]");
ABSL_FLAG(std::optional<float>, repetition_penalty, std::nullopt, "> 0, 1 = off");
ABSL_FLAG(std::optional<float>, frequency_penalty, std::nullopt, ">= 0");
ABSL_FLAG(std::optional<float>, presence_penalty, std::nullopt, ">= 0");
ABSL_FLAG(std::optional<uint64_t>, seed, std::nullopt, "Seed (default: the server picks one)");
ABSL_FLAG(std::string, activation, "", "silu | relu | stocha | stocha:P (default: the model's)");
ABSL_FLAG(std::optional<int>, n, std::nullopt, "Samples (multi-sample, generate)");
ABSL_FLAG(std::vector<std::string>, stop, {}, "Stop strings, comma-separated");
ABSL_FLAG(std::optional<int>, logprobs, std::nullopt, "Log-probabilities with N alternatives");
ABSL_FLAG(bool, ignore_eos, false, "Generate past EOS");
ABSL_FLAG(bool, json, false, "Print responses as JSON");

namespace stocha::client {
namespace {

constexpr char kUsage[] = R"(command-line client of stocha-server.

  stocha-cli [flags] generate|stream|multi-sample [PROMPT]
  stocha-cli [flags] health|info|load
  stocha-cli [flags] tokenize TEXT | detokenize ID...

Every call has a deadline (--deadline, default 60s). Exit status: 0 on success, 1 on an
RPC error (printed as CODE: message), 2 on bad usage.)";

int Fail(const grpc::Status& s) {
  std::fprintf(stderr, "stocha-cli: %s: %s\n", StatusCodeName(s.error_code()),
               s.error_message().c_str());
  return 1;
}

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

std::optional<v1::GenerateRequest> BuildRequest(const std::string& prompt) {
  v1::GenerateRequest r;
  r.set_prompt(prompt);
  if (auto v = absl::GetFlag(FLAGS_max_new_tokens)) {
    r.set_max_new_tokens(*v);
  }
  v1::SamplingParams* s = r.mutable_sampling();
  if (auto v = absl::GetFlag(FLAGS_temperature)) {
    s->set_temperature(*v);
  }
  if (auto v = absl::GetFlag(FLAGS_top_k)) {
    s->set_top_k(*v);
  }
  if (auto v = absl::GetFlag(FLAGS_top_p)) {
    s->set_top_p(*v);
  }
  if (auto v = absl::GetFlag(FLAGS_repetition_penalty)) {
    s->set_repetition_penalty(*v);
  }
  if (auto v = absl::GetFlag(FLAGS_frequency_penalty)) {
    s->set_frequency_penalty(*v);
  }
  if (auto v = absl::GetFlag(FLAGS_presence_penalty)) {
    s->set_presence_penalty(*v);
  }
  if (auto v = absl::GetFlag(FLAGS_seed)) {
    s->set_seed(*v);
  }
  const std::string act = absl::GetFlag(FLAGS_activation);
  if (!act.empty()) {
    std::vector<std::string> parts = absl::StrSplit(act, absl::MaxSplits(':', 1));
    r.mutable_activation()->set_kind(parts[0]);
    if (parts.size() == 2) {
      float p = 0;
      if (!absl::SimpleAtof(parts[1], &p)) {
        std::fprintf(stderr, "stocha-cli: --activation: '%s' is not a number\n", parts[1].c_str());
        return std::nullopt;
      }
      r.mutable_activation()->set_p(p);
    }
  }
  if (auto v = absl::GetFlag(FLAGS_n)) {
    r.set_n(*v);
  }
  for (const std::string& stop : absl::GetFlag(FLAGS_stop)) {
    r.add_stop(stop);
  }
  if (auto v = absl::GetFlag(FLAGS_logprobs)) {
    r.set_logprobs(*v);
  }
  if (absl::GetFlag(FLAGS_ignore_eos)) {
    r.set_ignore_eos(true);
  }
  return r;
}

const char* Reason(v1::FinishReason r) {
  switch (r) {
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_STOP:
      return "stop";
    case v1::FINISH_REASON_EOS:
      return "eos";
    case v1::FINISH_REASON_CANCELLED:
      return "cancelled";
    default:
      return "?";
  }
}

void PrintSummary(const v1::GenerateResponse& r) {
  std::fflush(stdout);
  std::fprintf(
      stderr,
      "[%s] prompt %u tokens (computed %u), completion %u tokens; queued %.1f ms, "
      "first token %.1f ms, total %.1f ms; FFN sparsity prompt %.3f generated %.3f; "
      "seed %llu, activation %s\n",
      r.request_id().c_str(), r.usage().prompt_tokens(), r.usage().prompt_tokens_computed(),
      r.usage().completion_tokens(), r.timings().queued_ms(), r.timings().time_to_first_token_ms(),
      r.timings().total_ms(), r.sparsity().prompt_sparsity(), r.sparsity().generated_sparsity(),
      static_cast<unsigned long long>(r.seed()), r.activation().c_str());
}

int Generate(v1::Stocha::Stub& stub, const ChannelOptions& co, const v1::GenerateRequest& req) {
  grpc::ClientContext ctx;
  PrepareContext(&ctx, co, absl::GetFlag(FLAGS_deadline));
  v1::GenerateResponse resp;
  grpc::Status s = stub.Generate(&ctx, req, &resp);
  if (!s.ok()) {
    return Fail(s);
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", Json(resp).c_str());
    return 0;
  }
  for (const v1::Sample& sample : resp.samples()) {
    if (resp.samples_size() > 1) {
      std::printf("--- sample %u (%s) ---\n", sample.index(), Reason(sample.finish_reason()));
    }
    std::printf("%s\n", sample.text().c_str());
  }
  if (resp.samples_size() == 1) {
    std::fprintf(stderr, "finish: %s\n", Reason(resp.samples(0).finish_reason()));
  }
  PrintSummary(resp);
  return 0;
}

// GenerateStream (one sample, printed as it arrives) or MultiSample (each sample printed
// when it finishes).
int Stream(v1::Stocha::Stub& stub, const ChannelOptions& co, const v1::GenerateRequest& req,
           bool multi) {
  grpc::ClientContext ctx;
  PrepareContext(&ctx, co, absl::GetFlag(FLAGS_deadline));
  auto reader = multi ? stub.MultiSample(&ctx, req) : stub.GenerateStream(&ctx, req);
  const bool json = absl::GetFlag(FLAGS_json);
  std::map<uint32_t, std::string> texts;
  v1::GenerateChunk chunk;
  while (reader->Read(&chunk)) {
    if (json) {
      std::printf("%s\n", Json(chunk).c_str());
      continue;
    }
    if (chunk.has_summary()) {
      PrintSummary(chunk.summary());
      continue;
    }
    if (!multi) {
      std::fputs(chunk.text().c_str(), stdout);
      std::fflush(stdout);
      if (chunk.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
        std::fprintf(stderr, "\nfinish: %s\n", Reason(chunk.finish_reason()));
      }
      continue;
    }
    texts[chunk.sample_index()] += chunk.text();
    if (chunk.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      std::printf("--- sample %u (%s) ---\n%s\n", chunk.sample_index(),
                  Reason(chunk.finish_reason()), texts[chunk.sample_index()].c_str());
      std::fflush(stdout);
    }
  }
  grpc::Status s = reader->Finish();
  return s.ok() ? 0 : Fail(s);
}

int Health(const std::shared_ptr<grpc::Channel>& channel, const ChannelOptions& co) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  PrepareContext(&ctx, co, absl::GetFlag(FLAGS_deadline));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) {
    return Fail(s);
  }
  std::printf("%s\n",
              grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

template <typename Req, typename Resp, typename Method>
int Unary(v1::Stocha::Stub& stub, const ChannelOptions& co, const Req& req, Method method) {
  grpc::ClientContext ctx;
  PrepareContext(&ctx, co, absl::GetFlag(FLAGS_deadline));
  Resp resp;
  grpc::Status s = (stub.*method)(&ctx, req, &resp);
  if (!s.ok()) {
    return Fail(s);
  }
  std::printf("%s\n", Json(resp).c_str());
  return 0;
}

int Run(const std::vector<char*>& args) {
  if (args.size() < 2) {
    std::fprintf(stderr, "stocha-cli: no command (see --help)\n");
    return 2;
  }
  const std::string cmd = args[1];
  std::vector<std::string> rest(args.begin() + 2, args.end());
  ChannelOptions co;
  co.target = absl::GetFlag(FLAGS_target);
  co.tls = absl::GetFlag(FLAGS_tls);
  co.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  co.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  co.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  absl::StatusOr<std::string> token = LoadToken(absl::GetFlag(FLAGS_token_file));
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      token.ok() ? (co.auth_token = *token, MakeChannel(co)) : token.status();
  if (!channel.ok()) {
    std::fprintf(stderr, "stocha-cli: %s\n", channel.status().ToString().c_str());
    return 2;
  }
  auto stub = v1::Stocha::NewStub(*channel);
  if (cmd == "health") {
    return Health(*channel, co);
  }
  if (cmd == "info") {
    return Unary<v1::GetModelInfoRequest, v1::ModelInfo>(*stub, co, {},
                                                         &v1::Stocha::Stub::GetModelInfo);
  }
  if (cmd == "load") {
    return Unary<v1::GetLoadRequest, v1::Load>(*stub, co, {}, &v1::Stocha::Stub::GetLoad);
  }
  if (cmd == "tokenize") {
    v1::TokenizeRequest req;
    req.set_text(absl::StrJoin(rest, " "));
    return Unary<v1::TokenizeRequest, v1::TokenizeResponse>(*stub, co, req,
                                                            &v1::Stocha::Stub::Tokenize);
  }
  if (cmd == "detokenize") {
    v1::DetokenizeRequest req;
    for (const std::string& a : rest) {
      int id = 0;
      if (!absl::SimpleAtoi(a, &id)) {
        std::fprintf(stderr, "stocha-cli: '%s' is not a token id\n", a.c_str());
        return 2;
      }
      req.add_token_ids(id);
    }
    return Unary<v1::DetokenizeRequest, v1::DetokenizeResponse>(*stub, co, req,
                                                                &v1::Stocha::Stub::Detokenize);
  }
  std::string prompt = absl::GetFlag(FLAGS_prompt);
  if (!rest.empty()) {
    prompt = absl::StrJoin(rest, " ");
  }
  std::optional<v1::GenerateRequest> req = BuildRequest(prompt);
  if (!req) {
    return 2;
  }
  if (cmd == "generate") {
    return Generate(*stub, co, *req);
  }
  if (cmd == "stream") {
    return Stream(*stub, co, *req, /*multi=*/false);
  }
  if (cmd == "multi-sample") {
    return Stream(*stub, co, *req, /*multi=*/true);
  }
  std::fprintf(stderr, "stocha-cli: unknown command '%s' (see --help)\n", cmd.c_str());
  return 2;
}

}  // namespace
}  // namespace stocha::client

int main(int argc, char** argv) {
  stocha::SetProgramUsage(stocha::client::kUsage, "client/cli_main.cc");
  return stocha::client::Run(absl::ParseCommandLine(argc, argv));
}
