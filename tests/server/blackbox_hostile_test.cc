// Black-box tests of hostile inputs (issue 10): model files with absurd contexts, requests
// with absurd fields, undecodable bytes, huge prompts and clients that misbehave.
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/sync_stream.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/rpc_helpers.h"
#include "tests/server/server_process.h"

namespace stocha::server::testing {
namespace {

#define REQUIRE_MODEL() \
  if (!HaveTestModel()) GTEST_SKIP() << "no ../shared/data/stories260K (a user's clone)"

std::unique_ptr<ServerProcess> MustStart(const std::vector<std::string>& flags) {
  auto p = ServerProcess::Start(flags);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(*p) : nullptr;
}

// A Llama in Hugging Face layout (config.json + F32 safetensors) with `context` positions:
// D = 8 * heads, F = 16, 2 layers, 1 KV head, V = 32, no tokenizer (prompts as token ids).
class TinyHfModel {
 public:
  TinyHfModel(int64_t context, int heads) {
    dir_ = ::testing::TempDir() + "/stocha-hf-XXXXXX";
    if (mkdtemp(dir_.data()) == nullptr) dir_.clear();
    const int d = 8 * heads, f = 16, hd = 8, kv = hd, v = 32, layers = 2;
    std::vector<std::pair<std::string, std::vector<int>>> tensors = {
        {"model.embed_tokens.weight", {v, d}}, {"model.norm.weight", {d}}};
    for (int l = 0; l < layers; ++l) {
      const std::string p = absl::StrCat("model.layers.", l, ".");
      tensors.push_back({p + "input_layernorm.weight", {d}});
      tensors.push_back({p + "self_attn.q_proj.weight", {d, d}});
      tensors.push_back({p + "self_attn.k_proj.weight", {kv, d}});
      tensors.push_back({p + "self_attn.v_proj.weight", {kv, d}});
      tensors.push_back({p + "self_attn.o_proj.weight", {d, d}});
      tensors.push_back({p + "post_attention_layernorm.weight", {d}});
      tensors.push_back({p + "mlp.gate_proj.weight", {f, d}});
      tensors.push_back({p + "mlp.up_proj.weight", {f, d}});
      tensors.push_back({p + "mlp.down_proj.weight", {d, f}});
    }
    std::vector<std::string> header;
    std::string data;
    for (const auto& [name, shape] : tensors) {
      int64_t n = 1;
      for (int s : shape) n *= s;
      const size_t begin = data.size();
      for (int64_t i = 0; i < n; ++i) {
        const float x = static_cast<float>((i * 7 + begin) % 61) / 64 - 0.45f;
        data.append(reinterpret_cast<const char*>(&x), sizeof x);
      }
      header.push_back(
          absl::StrFormat(R"("%s":{"dtype":"F32","shape":[%s],"data_offsets":[%d,%d]})", name,
                          absl::StrJoin(shape, ","), begin, data.size()));
    }
    const std::string json = "{" + absl::StrJoin(header, ",") + "}";
    std::ofstream st(dir_ + "/model.safetensors", std::ios::binary);
    const uint64_t size = json.size();
    st.write(reinterpret_cast<const char*>(&size), sizeof size);
    st << json << data;
    std::ofstream(dir_ + "/config.json") << absl::StrFormat(
        R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":%d,
            "intermediate_size":%d,"num_hidden_layers":%d,"num_attention_heads":%d,
            "num_key_value_heads":1,"max_position_embeddings":%d,"vocab_size":%d,
            "rms_norm_eps":1e-5,"rope_theta":10000.0,"hidden_act":"silu",
            "tie_word_embeddings":true,"bos_token_id":1,"eos_token_id":2})",
        d, f, layers, heads, context, v);
  }
  ~TinyHfModel() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// Seconds for one Generate of `tokens` new tokens from a 1-token prompt.
double GenerateSeconds(ServerProcess& server, int tokens) {
  auto stub = v1::Stocha::NewStub(server.channel());
  v1::GenerateRequest r;
  r.add_prompt_token_ids(1);
  r.set_max_new_tokens(tokens);
  r.set_ignore_eos(true);
  v1::GenerateResponse resp;
  const absl::Time t0 = absl::Now();
  grpc::Status s = stub->Generate(Context().get(), r, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.samples_size() == 1 ? resp.samples(0).token_ids_size() : -1, tokens);
  return absl::ToDoubleSeconds(absl::Now() - t0);
}

// Issue 10.3: a context of 2,000,000,000 positions used to pass the config checks and
// abort the first step with std::bad_alloc.
TEST(BlackboxHostileTest, AContextTheMachineCannotHoldIsRefusedAtLoadNamingTheFix) {
  // 2 layers x 8 KV floats x (K, V) x 4 bytes = 128 B per position: 256 GB in all.
  TinyHfModel model(2000000000, 1);
  ASSERT_FALSE(model.dir().empty());
  auto server = ServerProcess::StartWithModel({"--model=" + model.dir()}, {}, false);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<int> code = (*server)->WaitExit(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << "still running:\n" << (*server)->Log();
  EXPECT_EQ(*code, 1) << (*server)->Log();
  const std::string log = (*server)->Log();
  EXPECT_NE(log.find("max_position_embeddings"), std::string::npos) << log;
  EXPECT_NE(log.find("2000000000"), std::string::npos) << log;
  EXPECT_NE(log.find("GiB of KV cache"), std::string::npos) << log;
  EXPECT_NE(log.find("--max_context"), std::string::npos) << log;
  EXPECT_EQ(log.find("bad_alloc"), std::string::npos) << log;

  // The named fix works.
  auto capped = ServerProcess::StartWithModel({"--model=" + model.dir()}, {"--max_context=64"});
  ASSERT_TRUE(capped.ok()) << capped.status();
  GenerateSeconds(**capped, 8);
}

// Issue 10.3: attention scratch was sized by the context, not by the positions present: a
// 20M-position context zeroed 80 MB per layer per step. Now it costs what a small one does.
TEST(BlackboxHostileTest, AHugeContextCostsNothingUntilUsed) {
  TinyHfModel small(64, 1), huge(20000000, 1);
  auto a = ServerProcess::StartWithModel({"--model=" + small.dir()}, {});
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = ServerProcess::StartWithModel({"--model=" + huge.dir()}, {});
  ASSERT_TRUE(b.ok()) << b.status();
  double small_s = 1e9, huge_s = 1e9;
  for (int i = 0; i < 3; ++i) {  // best of 3 against scheduling noise
    small_s = std::min(small_s, GenerateSeconds(**a, 32));
    huge_s = std::min(huge_s, GenerateSeconds(**b, 32));
  }
  EXPECT_LT(huge_s, 3 * small_s + 0.05) << "small " << small_s << " s, huge " << huge_s << " s";
}

grpc::ByteBuffer Bytes(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// A unary call with `body` as the raw request bytes.
grpc::Status RawUnary(grpc::Channel* channel, const std::string& method, const std::string& body) {
  grpc::ByteBuffer request = Bytes(body), response;
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel, grpc::internal::RpcMethod(method.c_str(), grpc::internal::RpcMethod::NORMAL_RPC),
      Context().get(), request, &response);
}

grpc::Status RawStream(grpc::Channel* channel, const std::string& method, const std::string& body) {
  auto ctx = Context();
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
          channel,
          grpc::internal::RpcMethod(method.c_str(), grpc::internal::RpcMethod::SERVER_STREAMING),
          ctx.get(), Bytes(body)));
  grpc::ByteBuffer message;
  while (reader->Read(&message)) {
  }
  return reader->Finish();
}

// Issue 10.1: bytes that are no valid message (here field 1, a string, holding 0xff) got
// UNIMPLEMENTED with no message from gRPC's typed handler, on every RPC.
TEST(BlackboxHostileTest, UndecodableRequestBytesAreInvalidArgumentOnEveryRpc) {
  REQUIRE_MODEL();
  auto server = MustStart({});
  ASSERT_NE(server, nullptr);
  const std::string bad_utf8("\x0a\x01\xff", 3);
  const std::string truncated(
      "\x0a\x05"
      "ab",
      4);  // a 5-byte field with 2 bytes
  for (const std::string& body : {bad_utf8, truncated}) {
    for (const char* method : {"Generate", "Tokenize", "Detokenize", "GetModelInfo", "GetLoad"}) {
      const bool empty_message = absl::StrContains(method, "Get");
      if (body == bad_utf8 && empty_message) {
        // A message without fields keeps field 1 as an unknown field: valid protobuf.
        EXPECT_TRUE(
            RawUnary(server->channel().get(), absl::StrCat("/stocha.v1.Stocha/", method), body)
                .ok())
            << method;
        continue;
      }
      grpc::Status s =
          RawUnary(server->channel().get(), absl::StrCat("/stocha.v1.Stocha/", method), body);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
      EXPECT_NE(s.error_message().find("not a valid stocha.v1."), std::string::npos)
          << method << ": " << s.error_message();
    }
    for (const char* method : {"GenerateStream", "MultiSample"}) {
      grpc::Status s =
          RawStream(server->channel().get(), absl::StrCat("/stocha.v1.Stocha/", method), body);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
      EXPECT_NE(s.error_message().find("GenerateRequest"), std::string::npos) << s.error_message();
    }
  }
  // Valid bytes still work through the same path.
  v1::GenerateRequest ok = Request("Hi", 2);
  EXPECT_TRUE(
      RawUnary(server->channel().get(), "/stocha.v1.Stocha/Generate", ok.SerializeAsString()).ok());
}

grpc::Status Generate(ServerProcess& server, const v1::GenerateRequest& r,
                      const std::string& method = "Generate") {
  auto stub = v1::Stocha::NewStub(server.channel());
  if (method == "MultiSample") {
    auto ctx = Context();
    auto reader = stub->MultiSample(ctx.get(), r);
    return ReadStream(ctx.get(), reader.get()).status;
  }
  v1::GenerateResponse resp;
  return stub->Generate(Context().get(), r, &resp);
}

void ExpectInvalid(const grpc::Status& s, const std::string& text) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find(text), std::string::npos)
      << "'" << s.error_message() << "' lacks '" << text << "'";
}

// Issue 10.5, 10.8 and the field limits: each refusal names the field and the value sent.
TEST(BlackboxHostileTest, OversizedFieldsAreRefusedNamingTheFieldAndTheValueSent) {
  REQUIRE_MODEL();
  auto server = MustStart({});
  ASSERT_NE(server, nullptr);
  v1::GenerateRequest r = Request("Hi", 2);
  r.set_n(4294967295u);  // was reported as "n: 1048576 samples"
  ExpectInvalid(Generate(*server, r, "MultiSample"), "n: 4294967295 samples, the limit is 16");

  r = Request("Hi", 2);
  for (int i = 0; i < 1000000; ++i) r.add_stop_token_ids(5);  // was accepted
  ExpectInvalid(Generate(*server, r), "stop_token_ids: 1000000 ids, the limit is 64");
  r = Request("Hi", 2);
  for (int i = 0; i < 64; ++i) r.add_stop_token_ids(5);
  EXPECT_TRUE(Generate(*server, r).ok());

  r = Request("Hi", 2);
  r.set_request_id(std::string(129, 'x'));
  ExpectInvalid(Generate(*server, r), "request_id: 129 bytes, the limit is 128");
  r.set_request_id("two\nlines");  // would forge a log line
  ExpectInvalid(Generate(*server, r), "request_id: byte 3 (0x0a) is not printable ASCII");

  // The tiny model has 512 positions: prompts above 16 bytes each are refused untokenized.
  r = Request(std::string(512 * 16 + 1, 'a'), 2);
  ExpectInvalid(Generate(*server, r), "prompt: 8193 bytes, the limit is 8192 (--max_prompt_bytes)");
  r.clear_prompt();
  for (int i = 0; i < 600; ++i) r.add_prompt_token_ids(5);
  ExpectInvalid(Generate(*server, r), "prompt_token_ids: 600 tokens leave no room");

  auto stub = v1::Stocha::NewStub(server->channel());
  v1::TokenizeRequest t;
  t.set_text(std::string(8193, 'a'));
  v1::TokenizeResponse tr;
  ExpectInvalid(stub->Tokenize(Context().get(), t, &tr), "text: 8193 bytes, the limit is 8192");
  v1::DetokenizeRequest d;
  for (int i = 0; i < 2000000; ++i) d.add_token_ids(5);
  v1::DetokenizeResponse dr;
  ExpectInvalid(stub->Detokenize(Context().get(), d, &dr), "token_ids: 2000000 ids, the limit is");

  // A message above --max_request_bytes never reaches stocha: gRPC refuses it.
  r = Request(std::string(5 << 20, 'a'), 2);
  EXPECT_EQ(Generate(*server, r).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(*server->Health(), grpc::health::v1::HealthCheckResponse::SERVING);
}

// Median seconds of `n` health checks on a fresh connection.
double MedianHealthSeconds(const ServerProcess& server, int n) {
  auto stub = grpc::health::v1::Health::NewStub(server.NewChannel());
  std::vector<double> s;
  for (int i = 0; i < n; ++i) {
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    const absl::Time t0 = absl::Now();
    EXPECT_TRUE(stub->Check(Context(absl::Seconds(10)).get(), req, &resp).ok());
    s.push_back(absl::ToDoubleSeconds(absl::Now() - t0));
  }
  std::sort(s.begin(), s.end());
  return s[s.size() / 2];
}

// Health checks on their own connection while `clients` threads each send `prompt` to
// Generate: the median latency over the time the prompts were in flight.
double MedianHealthSecondsUnder(const ServerProcess& server, const std::string& prompt, int clients,
                                int* samples) {
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  threads.reserve(clients);
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      auto stub = v1::Stocha::NewStub(server.NewChannel());
      v1::GenerateResponse resp;
      grpc::Status s = stub->Generate(Context().get(), Request(prompt, 2), &resp);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
      ++done;
    });
  }
  auto stub = grpc::health::v1::Health::NewStub(server.NewChannel());
  std::vector<double> s;
  while (done.load() < clients) {
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    const absl::Time t0 = absl::Now();
    EXPECT_TRUE(stub->Check(Context(absl::Seconds(10)).get(), req, &resp).ok());
    if (done.load() < clients) s.push_back(absl::ToDoubleSeconds(absl::Now() - t0));
  }
  for (std::thread& t : threads) t.join();
  *samples = static_cast<int>(s.size());
  if (s.empty()) return 0;
  std::sort(s.begin(), s.end());
  return s[s.size() / 2];
}

std::string StoryText(size_t bytes) {
  std::string text;
  while (text.size() < bytes) text += "Once upon a time, a little dog found a red ball. ";
  return text.substr(0, bytes);
}

// Issue 10.2: four concurrent ~3.9 MB prompts were tokenized on gRPC threads and held a
// health check on another connection up for 0.8-2.0 s (idle: ~1 ms). Now the byte limit
// refuses them untokenized; and prompts within a raised limit are tokenized on the
// tokenize pool, off the gRPC threads.
TEST(BlackboxHostileTest, HugePromptsDoNotStallHealthChecks) {
  REQUIRE_MODEL();
  for (const bool raised : {false, true}) {
    auto server = MustStart(raised ? std::vector<std::string>{"--max_prompt_bytes=4000000"}
                                   : std::vector<std::string>{});
    ASSERT_NE(server, nullptr);
    MedianHealthSeconds(*server, 5);  // connection set up, code paths warm
    const double idle = MedianHealthSeconds(*server, 21);
    int samples = 0;
    // Raised: 4 x 400 KB keep the 2 tokenizer threads busy for about a second.
    const double busy =
        MedianHealthSecondsUnder(*server, StoryText(raised ? 400000 : 3900000), 4, &samples);
    std::printf("health check median: idle %.4f s, under 4 huge prompts %.4f s (%d samples%s)\n",
                idle, busy, samples, raised ? ", tokenized" : ", refused by size");
    // The slack is absolute: on 2 vCPUs beside another test (ctest -j2) moving 4 x 3.9 MB
    // through gRPC took medians of up to 17 ms (0.2 ms quiet), while a health check stalled
    // behind the tokenizer would wait for it, about a second (above).
    EXPECT_LT(busy, 5 * idle + 0.1) << "raised limit " << raised << ": idle " << idle
                                    << " s, under huge prompts " << busy << " s";
    if (raised) {
      EXPECT_GE(samples, 5) << "the prompts were tokenized too fast to measure";
    }
  }
}

// Issue 10.6: only v1alpha reflection was served; current grpcurl asks for v1 first.
TEST(BlackboxHostileTest, ServesReflectionV1) {
  REQUIRE_MODEL();
  auto server = MustStart({});
  ASSERT_NE(server, nullptr);
  auto stub = grpc::reflection::v1::ServerReflection::NewStub(server->channel());
  auto ctx = Context();
  auto stream = stub->ServerReflectionInfo(ctx.get());
  grpc::reflection::v1::ServerReflectionRequest req;
  grpc::reflection::v1::ServerReflectionResponse resp;
  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.push_back(s.name());
  EXPECT_NE(std::find(names.begin(), names.end(), "stocha.v1.Stocha"), names.end())
      << absl::StrJoin(names, ", ");

  req.set_file_containing_symbol("stocha.v1.Stocha");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_GE(resp.file_descriptor_response().file_descriptor_proto_size(), 1)
      << resp.ShortDebugString();
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(resp.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(file.name(), "stocha/v1/stocha.proto");
  ASSERT_GE(file.service_size(), 1);
  EXPECT_EQ(file.service(0).name(), "Stocha");

  req.set_file_containing_symbol("no.such.Symbol");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

// A gzip bomb: 8 MiB of prompt compress to ~8 KiB on the wire. The receive limit holds
// for the decompressed message, and the server stays healthy. Likewise huge metadata.
TEST(BlackboxHostileTest, CompressedBombsAndOversizedMetadataAreRefused) {
  REQUIRE_MODEL();
  auto server = MustStart({});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Stocha::NewStub(server->channel());
  auto ctx = Context();
  ctx->set_compression_algorithm(GRPC_COMPRESS_GZIP);
  v1::GenerateResponse resp;
  grpc::Status s = stub->Generate(ctx.get(), Request(std::string(8 << 20, 'a'), 2), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(*server->Health(), grpc::health::v1::HealthCheckResponse::SERVING);
  // A compressed request within the limits is served.
  auto ok_ctx = Context();
  ok_ctx->set_compression_algorithm(GRPC_COMPRESS_GZIP);
  EXPECT_TRUE(stub->Generate(ok_ctx.get(), Request("Hi", 2), &resp).ok());

  // Request metadata above 16 KiB: the call fails (gRPC may also close that connection),
  // and the server goes on serving.
  auto big = Context();
  big->AddMetadata("x-padding", std::string(64 << 10, 'a'));
  EXPECT_FALSE(stub->Generate(big.get(), Request("Hi", 2), &resp).ok());
  auto fresh = v1::Stocha::NewStub(server->NewChannel());
  EXPECT_TRUE(fresh->Generate(Context().get(), Request("Hi", 2), &resp).ok());
  EXPECT_EQ(*server->Health(), grpc::health::v1::HealthCheckResponse::SERVING);
}

// Issue 10: a stream whose client never reads. gRPC's flow control holds the server's
// writes; the output used to queue in the stream's reactor without bound and the call
// never ended. Now, beyond --stream_buffer_bytes, the stream is cancelled with
// RESOURCE_EXHAUSTED (the client sees it after what gRPC already sent), its batch slots
// are freed, it is counted, and other streams and health checks go on.
TEST(BlackboxHostileTest, AStreamWhoseClientNeverReadsIsCancelledAndItsSlotsFreed) {
  REQUIRE_MODEL();
  auto server = MustStart({"--stream_buffer_bytes=32768", "--max_batch_size=5", "--max_n=4"});
  ASSERT_NE(server, nullptr);
  // The stuck client, on its own connection with a small fixed HTTP/2 window (no BDP
  // growth): gRPC stops the server's writes once ~16 KiB wait unread.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 10);
  auto stuck_stub = v1::Stocha::NewStub(
      grpc::CreateCustomChannel(server->target(), grpc::InsecureChannelCredentials(), args));
  // 4 samples x 500 tokens x 20 alternatives: ~600 KB of messages.
  v1::GenerateRequest big = Request("Once upon a time", 500, 1.0f, 7);
  big.set_n(4);
  big.set_ignore_eos(true);
  big.set_logprobs(20);
  auto stuck_ctx = Context();
  auto stuck = stuck_stub->MultiSample(stuck_ctx.get(), big);

  // Meanwhile a client that reads gets every token, and health answers.
  auto stub = v1::Stocha::NewStub(server->channel());
  v1::GenerateRequest normal = Request("Once upon a time", 200);
  normal.set_ignore_eos(true);
  auto ctx = Context();
  auto reader = stub->GenerateStream(ctx.get(), normal);
  StreamResult ok = ReadStream(ctx.get(), reader.get());
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.tokens[0].size(), 200u);
  EXPECT_EQ(*server->Health(), grpc::health::v1::HealthCheckResponse::SERVING);

  // The stuck stream is cancelled and counted without its client reading anything.
  const std::string counted = "stocha_refusals_total{reason=\"stream_buffer\"} 1\n";
  bool seen = false;
  for (const absl::Time end = absl::Now() + absl::Seconds(30); !seen && absl::Now() < end;) {
    seen = absl::StrContains(HttpGet(server->metrics_port(), "/metrics"), counted);
    if (!seen) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(seen) << "no stocha_refusals_total{reason=\"stream_buffer\"} 1 within 30 s";
  v1::Load load;
  EXPECT_TRUE(stub->GetLoad(Context().get(), v1::GetLoadRequest(), &load).ok());
  EXPECT_EQ(load.running_requests(), 0u);

  // Its slots are free: a request that needs 4 of the 5 runs.
  v1::GenerateRequest four = Request("Once upon a time", 20, 1.0f, 3);
  four.set_n(4);
  auto four_ctx = Context(absl::Seconds(30));
  auto four_reader = stub->MultiSample(four_ctx.get(), four);
  StreamResult again = ReadStream(four_ctx.get(), four_reader.get());
  EXPECT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_EQ(again.tokens.size(), 4u);

  // When the stuck client finally reads: what gRPC had taken, then the reason.
  StreamResult late = ReadStream(stuck_ctx.get(), stuck.get());
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << late.status.error_message();
  EXPECT_TRUE(absl::StrContains(late.status.error_message(), "--stream_buffer_bytes"))
      << late.status.error_message();
  size_t tokens = 0;
  for (const auto& [index, ids] : late.tokens) tokens += ids.size();
  EXPECT_LT(tokens, 4u * 500u);
  EXPECT_FALSE(late.summary.has_value());
}

// Seconds from SIGTERM to exit of an idle server; with `watch`, while a client holds a
// health Watch stream open on its own connection.
double DrainSeconds(bool watch) {
  auto server = MustStart({});
  if (server == nullptr) return -1;
  std::shared_ptr<grpc::Channel> channel = server->NewChannel();
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<grpc::health::v1::HealthCheckResponse>> reader;
  grpc::health::v1::HealthCheckResponse resp;
  if (watch) {
    reader = stub->Watch(&ctx, grpc::health::v1::HealthCheckRequest());
    EXPECT_TRUE(reader->Read(&resp));
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  const absl::Time t0 = absl::Now();
  server->Signal(SIGTERM);
  absl::StatusOr<int> code = server->WaitExit(absl::Seconds(30));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  EXPECT_TRUE(code.ok() && *code == 0) << server->Log();
  if (watch) {
    while (reader->Read(&resp)) {
    }
    EXPECT_FALSE(reader->Finish().ok());  // ended by the server, not by the client
  }
  return seconds;
}

// Issue 10.7: an open health Watch held the drain for the full 5 s close wait.
TEST(BlackboxHostileTest, AHealthWatchDoesNotHoldTheDrain) {
  REQUIRE_MODEL();
  const double idle = DrainSeconds(false);
  const double watched = DrainSeconds(true);
  std::printf("drain after SIGTERM: idle %.3f s, with a health Watch open %.3f s\n", idle, watched);
  EXPECT_LT(watched, idle + 1.5) << "idle drain " << idle << " s, with a Watch " << watched << " s";
}

}  // namespace
}  // namespace stocha::server::testing
