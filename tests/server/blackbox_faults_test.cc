// Black-box fault tests: readiness, cancellation, deadline storms, overload, KV budget,
// graceful drain and auth, each against its own stocha-server process.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/tokenizers/load_tokenizer.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"
#include "tests/server/rpc_helpers.h"
#include "tests/server/server_process.h"

namespace stocha::server::testing {
namespace {

using HealthStatus = grpc::health::v1::HealthCheckResponse;

#define REQUIRE_MODEL() \
  if (!HaveTestModel()) STOCHA_FIXTURE_ABSENT("no ../shared/data/stories260K (a user's clone)")

std::unique_ptr<ServerProcess> MustStart(const std::vector<std::string>& flags,
                                         bool wait_serving = true) {
  auto p = ServerProcess::Start(flags, wait_serving);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(*p) : nullptr;
}

v1::Load GetLoad(v1::Stocha::Stub& stub) {
  v1::Load load;
  EXPECT_TRUE(stub.GetLoad(Context().get(), {}, &load).ok());
  return load;
}

// Polls until nothing is queued or running and the KV budget is all free.
bool WaitIdle(v1::Stocha::Stub& stub, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    v1::Load l = GetLoad(stub);
    if (l.running_requests() == 0 && l.queued_requests() == 0 && l.kv_tokens_reserved() == 0) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

v1::GenerateRequest Long(int max_new) {
  v1::GenerateRequest r = Request("Once upon a time", max_new);
  r.set_ignore_eos(true);
  return r;
}

TEST(BlackboxFaultsTest, NotServingUntilLoadedAndWarmedUp) {
  REQUIRE_MODEL();
  // Warm-up takes 5 steps: at 300 ms each, health must say NOT_SERVING for ~1.5 s.
  auto server = MustStart({"--testing_step_delay=300ms"}, /*wait_serving=*/false);
  ASSERT_NE(server, nullptr);
  auto health = server->Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, HealthStatus::NOT_SERVING);
  auto stub = v1::Stocha::NewStub(server->channel());
  v1::GenerateResponse resp;
  EXPECT_EQ(stub->Generate(Context().get(), Request("Hi", 2), &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server->WaitServing(absl::Seconds(20)), absl::OkStatus());
}

TEST(BlackboxFaultsTest, ASecondServerCannotShareThePort) {
  REQUIRE_MODEL();
  // With SO_REUSEPORT a second server would bind the same port and silently take part of
  // the connections (and, with --port=0 under parallel tests, answer another test's calls).
  auto first = MustStart({});
  ASSERT_NE(first, nullptr);
  auto second = ServerProcess::Start({"--port=" + std::to_string(first->port())});
  ASSERT_FALSE(second.ok()) << "a second server listens on port " << first->port();
  EXPECT_NE(second.status().message().find("cannot listen"), std::string::npos) << second.status();
  EXPECT_EQ(first->WaitServing(absl::Seconds(5)), absl::OkStatus());
}

TEST(BlackboxFaultsTest, CancellingAStreamFreesItsResources) {
  REQUIRE_MODEL();
  auto server = MustStart({"--max_batch_size=1", "--testing_step_delay=5ms"});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Stocha::NewStub(server->channel());
  auto ctx = Context();
  auto reader = stub->GenerateStream(ctx.get(), Long(400));  // ~2 s of work
  StreamResult r = ReadStream(ctx.get(), reader.get(), /*stop_after=*/3);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::CANCELLED);
  const absl::Time cancelled = absl::Now();
  ASSERT_TRUE(WaitIdle(*stub, absl::Seconds(1)));
  EXPECT_LT(absl::Now() - cancelled, absl::Milliseconds(500));
  // The only batch slot is free again: the next request is not slowed.
  const absl::Time t0 = absl::Now();
  v1::GenerateResponse resp;
  ASSERT_TRUE(stub->Generate(Context().get(), Long(10), &resp).ok());
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(800));
  EXPECT_GE(GetLoad(*stub).requests_cancelled(), 1u);
}

TEST(BlackboxFaultsTest, DeadlineStormLeavesTheServerHealthy) {
  REQUIRE_MODEL();
  auto server = MustStart({"--testing_step_delay=2ms", "--max_batch_size=8"});
  ASSERT_NE(server, nullptr);
  std::atomic<int> expired{0}, other{0};
  std::vector<std::thread> clients;
  clients.reserve(40);
  for (int i = 0; i < 40; ++i) {
    clients.emplace_back([&, i] {
      auto stub = v1::Stocha::NewStub(server->channel());
      v1::GenerateResponse resp;
      auto ctx = Context(absl::Milliseconds(5 + 3 * i));
      grpc::Status s = stub->Generate(ctx.get(), Long(300), &resp);  // needs >= 600 ms
      (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? expired : other)++;
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  EXPECT_EQ(expired.load(), 40);
  EXPECT_EQ(other.load(), 0);
  auto stub = v1::Stocha::NewStub(server->channel());
  EXPECT_TRUE(WaitIdle(*stub, absl::Seconds(2))) << "expired work must stop computing";
  EXPECT_EQ(server->WaitServing(absl::Seconds(1)), absl::OkStatus());
  v1::GenerateResponse resp;
  EXPECT_TRUE(stub->Generate(Context().get(), Request("Hi", 4), &resp).ok());
}

TEST(BlackboxFaultsTest, FullQueueAnswersResourceExhaustedAndStaysHealthy) {
  REQUIRE_MODEL();
  auto server = MustStart({"--max_batch_size=1", "--max_queue=2", "--testing_step_delay=5ms"});
  ASSERT_NE(server, nullptr);
  std::atomic<int> ok{0}, exhausted{0}, other{0};
  std::vector<std::thread> clients;
  clients.reserve(10);
  for (int i = 0; i < 10; ++i) {
    clients.emplace_back([&] {
      auto stub = v1::Stocha::NewStub(server->channel());
      v1::GenerateResponse resp;
      const absl::Time t0 = absl::Now();
      grpc::Status s = stub->Generate(Context().get(), Long(20), &resp);
      if (s.ok()) {
        ++ok;
      } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        EXPECT_LT(absl::Now() - t0, absl::Milliseconds(500)) << "refusals are immediate";
        ++exhausted;
      } else {
        ++other;
      }
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  // 1 running + 2 queued are accepted (or just 2 queued if the first was not admitted yet).
  EXPECT_GE(exhausted.load(), 5);
  EXPECT_GE(ok.load(), 2);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(server->WaitServing(absl::Seconds(1)), absl::OkStatus());
  auto stub = v1::Stocha::NewStub(server->channel());
  v1::GenerateResponse resp;
  EXPECT_TRUE(stub->Generate(Context().get(), Request("Hi", 4), &resp).ok());
  EXPECT_GE(GetLoad(*stub).requests_rejected(), 5u);
}

TEST(BlackboxFaultsTest, KvBudgetExhaustionMakesRequestsWaitNotFail) {
  REQUIRE_MODEL();
  // 1 MiB of KV holds ~800 positions of this model: about 2 requests of 300 at a time.
  auto server = MustStart({"--kv_cache_mb=1", "--testing_step_delay=1ms"});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Stocha::NewStub(server->channel());
  const uint64_t budget = GetLoad(*stub).kv_tokens_budget();
  ASSERT_GT(budget, 300u);
  ASSERT_LT(budget, 3 * 300u);
  std::atomic<int> complete{0};
  std::vector<std::thread> clients;
  clients.reserve(12);
  for (int i = 0; i < 12; ++i) {
    clients.emplace_back([&] {
      auto s = v1::Stocha::NewStub(server->channel());
      v1::GenerateResponse resp;
      if (s->Generate(Context().get(), Long(290), &resp).ok() &&
          resp.samples(0).token_ids_size() == 290) {
        ++complete;
      }
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  EXPECT_EQ(complete.load(), 12);
  v1::Load load = GetLoad(*stub);
  EXPECT_EQ(load.requests_rejected(), 0u);
  EXPECT_EQ(load.kv_tokens_reserved(), 0u);
}

TEST(BlackboxFaultsTest, SigtermDrainsInFlightRequestsThenExitsZero) {
  REQUIRE_MODEL();
  auto server = MustStart({"--testing_step_delay=5ms", "--drain_grace=20s"});
  ASSERT_NE(server, nullptr);
  std::atomic<int> complete{0}, started{0};
  std::vector<std::thread> streams;
  streams.reserve(4);
  for (int i = 0; i < 4; ++i) {
    streams.emplace_back([&] {
      auto stub = v1::Stocha::NewStub(server->channel());
      auto ctx = Context();
      auto reader = stub->GenerateStream(ctx.get(), Long(120));  // ~0.6 s
      v1::GenerateChunk c;
      int tokens = 0;
      bool summary = false;
      while (reader->Read(&c)) {
        if (tokens == 0 && c.token_ids_size() > 0) {
          ++started;
        }
        tokens += c.token_ids_size();
        summary = summary || c.has_summary();
      }
      if (reader->Finish().ok() && tokens == 120 && summary) {
        ++complete;
      }
    });
  }
  while (started.load() < 4) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  server->Signal(SIGTERM);
  absl::SleepFor(absl::Milliseconds(50));
  auto health = server->Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, HealthStatus::NOT_SERVING);
  auto stub = v1::Stocha::NewStub(server->channel());
  v1::GenerateResponse resp;
  EXPECT_EQ(stub->Generate(Context().get(), Request("Hi", 2), &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  for (std::thread& t : streams) {
    t.join();
  }
  EXPECT_EQ(complete.load(), 4);
  absl::StatusOr<int> code = server->WaitExit(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server->Log();
}

TEST(BlackboxFaultsTest, DrainGraceEndsStragglersWithUnavailable) {
  REQUIRE_MODEL();
  auto server = MustStart({"--testing_step_delay=5ms", "--drain_grace=200ms"});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Stocha::NewStub(server->channel());
  auto ctx = Context();
  auto reader = stub->GenerateStream(ctx.get(), Long(450));  // ~2.3 s
  v1::GenerateChunk c;
  ASSERT_TRUE(reader->Read(&c));
  server->Signal(SIGTERM);
  while (reader->Read(&c)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  absl::StatusOr<int> code = server->WaitExit(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

TEST(BlackboxFaultsTest, BearerTokenIsRequiredWhenConfigured) {
  REQUIRE_MODEL();
  const std::string token_file = ::testing::TempDir() + "/stocha-token";
  std::ofstream(token_file) << "s3cret\n";
  auto server = MustStart({"--auth_token_file=" + token_file});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Stocha::NewStub(server->channel());
  v1::GenerateResponse resp;
  EXPECT_EQ(stub->Generate(Context().get(), Request("Hi", 2), &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  auto wrong = Context();
  wrong->AddMetadata("authorization", "Bearer nope");
  EXPECT_EQ(stub->Generate(wrong.get(), Request("Hi", 2), &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  auto right = Context();
  right->AddMetadata("authorization", "Bearer s3cret");
  EXPECT_TRUE(stub->Generate(right.get(), Request("Hi", 2), &resp).ok());
  EXPECT_EQ(server->WaitServing(absl::Seconds(1)), absl::OkStatus()) << "health needs no token";
}

TEST(BlackboxFaultsTest, TlsServesOnlyTls) {
  REQUIRE_MODEL();
  std::string dir = ::testing::TempDir() + "/stocha-tls-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + dir +
                          "/key.pem -out " + dir + "/cert.pem -days 1 -subj /CN=localhost " +
                          "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl (scripts/install-deps.sh) failed: " << cmd;
  std::stringstream cert;
  cert << std::ifstream(dir + "/cert.pem").rdbuf();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = cert.str();
  auto p =
      ServerProcess::Start({"--tls_cert=" + dir + "/cert.pem", "--tls_key=" + dir + "/key.pem"},
                           /*wait_serving=*/true, grpc::SslCredentials(ssl));
  ASSERT_TRUE(p.ok()) << p.status();
  auto stub = v1::Stocha::NewStub((*p)->channel());
  v1::GenerateResponse resp;
  EXPECT_TRUE(stub->Generate(Context().get(), Request("Hi", 4), &resp).ok());
  auto plain = v1::Stocha::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string((*p)->port()),
                                                       grpc::InsecureChannelCredentials()));
  EXPECT_EQ(plain->Generate(Context(absl::Seconds(2)).get(), Request("Hi", 4), &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// The bundled model with no --tokenizer: the server reads models/default/tokenizer.model
// itself. libsentencepiece would abort this process (its embedded protobuf against gRPC's);
// the built-in reader and tokenizer must give the same ids as the engine's tokenizer here.
TEST(BlackboxFaultsTest, ServesTheDefaultModelWithItsTokenizerModel) {
  const std::string dir = std::string(STOCHA_SOURCE_DIR) + "/models/default";
  SetLibSentencePieceUsable(false);  // for good: this test process links gRPC's protobuf too
  auto tokenizer = LoadSentencePieceTokenizer(dir + "/tokenizer.model");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  auto server = ServerProcess::StartWithModel({"--model=" + dir}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::Stocha::NewStub((*server)->channel());
  for (const std::string text : {"Once upon a time", "Lily found a dog. \"Hi!\" she said.\n",
                                 "  two  spaces, caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 "
                                 "\xF0\x9F\x90\xB6 42"}) {
    v1::TokenizeRequest tr;
    tr.set_text(text);
    v1::TokenizeResponse tokens;
    grpc::Status s = stub->Tokenize(Context().get(), tr, &tokens);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << (*server)->Log();
    const std::vector<int> ids(tokens.token_ids().begin(), tokens.token_ids().end());
    EXPECT_EQ(ids, *(*tokenizer)->Encode(text, /*add_bos=*/true)) << text;
    v1::DetokenizeRequest dr;
    dr.mutable_token_ids()->CopyFrom(tokens.token_ids());
    v1::DetokenizeResponse back;
    ASSERT_TRUE(stub->Detokenize(Context().get(), dr, &back).ok());
    EXPECT_EQ(back.text(), text);
  }
  v1::GenerateResponse r;
  grpc::Status s = stub->Generate(Context().get(), Request("Once upon a time", 16), &r);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << (*server)->Log();
  ASSERT_EQ(r.samples_size(), 1);
  EXPECT_FALSE(r.samples(0).text().empty());
  EXPECT_GT(r.samples(0).token_ids_size(), 0);
  EXPECT_EQ(r.usage().prompt_tokens(), (*(*tokenizer)->Encode("Once upon a time", true)).size());
  auto health = (*server)->Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, HealthStatus::SERVING);
}

// --stream_interval=4: the same tokens in fewer messages of >= 4 tokens each (but the last),
// MultiSample's interleaved samples still complete, and 0 is refused at start-up.
TEST(BlackboxFaultsTest, StreamIntervalSendsFewerLargerMessagesWithTheSameTokens) {
  REQUIRE_MODEL();
  auto bad = ServerProcess::Start({"--stream_interval=0"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("stream_interval"), std::string::npos) << bad.status();

  auto server = MustStart({"--stream_interval=4", "--deterministic"});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Stocha::NewStub(server->channel());
  v1::GenerateRequest req = Long(30);
  v1::GenerateResponse unary;
  ASSERT_TRUE(stub->Generate(Context().get(), req, &unary).ok());

  auto ctx = Context();
  auto reader = stub->GenerateStream(ctx.get(), req);
  std::vector<int> ids, sizes;
  v1::GenerateChunk c;
  while (reader->Read(&c)) {
    if (c.token_ids_size() > 0) sizes.push_back(c.token_ids_size());
    ids.insert(ids.end(), c.token_ids().begin(), c.token_ids().end());
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(ids, std::vector<int>(unary.samples(0).token_ids().begin(),
                                  unary.samples(0).token_ids().end()));
  ASSERT_GE(sizes.size(), 2u) << "still streamed, not one message at the end";
  EXPECT_LE(sizes.size(), 8u);  // 30 tokens in messages of >= 4
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    EXPECT_GE(sizes[i], 4) << "message " << i;
  }

  v1::GenerateRequest multi = Long(20);
  multi.set_n(3);
  multi.mutable_sampling()->set_temperature(0.8f);
  multi.mutable_sampling()->set_seed(5);
  auto mctx = Context();
  auto mreader = stub->MultiSample(mctx.get(), multi);
  std::map<uint32_t, int> per_sample;
  while (mreader->Read(&c)) {
    per_sample[c.sample_index()] += c.token_ids_size();
  }
  ASSERT_TRUE(mreader->Finish().ok());
  EXPECT_EQ(per_sample, (std::map<uint32_t, int>{{0, 20}, {1, 20}, {2, 20}}));
}

}  // namespace
}  // namespace stocha::server::testing
