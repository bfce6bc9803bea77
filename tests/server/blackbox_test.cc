// Black-box API tests: the real stocha-server (tiny model, deterministic mode) over gRPC.
#include <grpcpp/generic/generic_stub.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"
#include "tests/server/rpc_helpers.h"
#include "tests/server/server_process.h"

namespace stocha::server::testing {
namespace {

class BlackboxTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!HaveTestModel()) {
      STOCHA_FIXTURE_ABSENT("no ../shared/data/stories260K (a user's clone)");
    }
    // Started by the first test rather than in SetUpTestSuite: a failure there would only
    // make gtest skip the tests, which ctest counts as a pass.
    if (server_ == nullptr) {
      auto p = ServerProcess::Start({"--deterministic", "--max_batch_size=48",
                                     "--max_tokens_per_step=256", "--prefill_chunk=16"});
      ASSERT_TRUE(p.ok()) << p.status();
      server_ = p->release();
    }
    stub_ = v1::Stocha::NewStub(server_->channel());
  }

  v1::GenerateResponse MustGenerate(const v1::GenerateRequest& req) {
    v1::GenerateResponse resp;
    grpc::Status s = stub_->Generate(Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  grpc::Status Call(const v1::GenerateRequest& req) {
    v1::GenerateResponse resp;
    return stub_->Generate(Context().get(), req, &resp);
  }

  static ServerProcess* server_;
  std::unique_ptr<v1::Stocha::Stub> stub_;
};

ServerProcess* BlackboxTest::server_ = nullptr;

TEST_F(BlackboxTest, GenerateReturnsACompleteSample) {
  const v1::GenerateResponse r = MustGenerate(Request("Once upon a time", 24));
  ASSERT_EQ(r.samples_size(), 1);
  const v1::Sample& s = r.samples(0);
  EXPECT_FALSE(s.text().empty());
  EXPECT_GT(s.token_ids_size(), 0);
  EXPECT_LE(s.token_ids_size(), 24);
  EXPECT_TRUE(s.finish_reason() == v1::FINISH_REASON_LENGTH ||
              s.finish_reason() == v1::FINISH_REASON_EOS);
  v1::TokenizeRequest tr;
  tr.set_text("Once upon a time");
  v1::TokenizeResponse tokens;
  ASSERT_TRUE(stub_->Tokenize(Context().get(), tr, &tokens).ok());
  EXPECT_EQ(r.usage().prompt_tokens(), static_cast<uint32_t>(tokens.token_ids_size()));
  EXPECT_EQ(r.usage().prompt_tokens_computed(), r.usage().prompt_tokens());
  EXPECT_GE(r.usage().completion_tokens(), static_cast<uint32_t>(s.token_ids_size()));
  EXPECT_GT(r.timings().total_ms(), 0);
  EXPECT_GE(r.timings().total_ms(), r.timings().time_to_first_token_ms());
  EXPECT_EQ(r.sparsity().layers_size(), 5);
  EXPECT_EQ(r.sparsity().layers(0).prompt_tokens(), r.usage().prompt_tokens());
  EXPECT_TRUE(r.sparsity().exact());
  EXPECT_FALSE(r.request_id().empty());
  v1::DetokenizeRequest dr;
  dr.mutable_token_ids()->CopyFrom(s.token_ids());
  v1::DetokenizeResponse text;
  ASSERT_TRUE(stub_->Detokenize(Context().get(), dr, &text).ok());
  EXPECT_EQ(text.text(), s.text());
}

TEST_F(BlackboxTest, StreamMatchesUnaryAndEndsWithASummary) {
  v1::GenerateRequest req = Request("The dog", 40, 0.8f, 77);
  const v1::GenerateResponse unary = MustGenerate(req);
  auto ctx = Context();
  auto reader = stub_->GenerateStream(ctx.get(), req);
  StreamResult r = ReadStream(ctx.get(), reader.get());
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.text[0], unary.samples(0).text());
  EXPECT_EQ(r.tokens[0], Ids(unary.samples(0).token_ids()));
  EXPECT_EQ(r.finish[0], unary.samples(0).finish_reason());
  ASSERT_TRUE(r.summary.has_value());
  EXPECT_FALSE(r.message_after_summary);
  EXPECT_EQ(r.summary->seed(), 77u);
  EXPECT_EQ(r.summary->usage().completion_tokens(), unary.usage().completion_tokens());
  EXPECT_GT(r.messages, 2) << "tokens should arrive in several chunks";
}

TEST_F(BlackboxTest, MultiSampleComputesThePromptOnce) {
  v1::GenerateRequest req = Request("Lily and Ben went to the park", 30, 1.0f, 5);
  req.set_n(6);
  auto ctx = Context();
  auto reader = stub_->MultiSample(ctx.get(), req);
  StreamResult r = ReadStream(ctx.get(), reader.get());
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_TRUE(r.summary.has_value());
  const v1::Usage& u = r.summary->usage();
  EXPECT_EQ(u.prompt_tokens_computed(), u.prompt_tokens()) << "prompt must be prefilled once";
  EXPECT_EQ(r.finish.size(), 6u);
  std::set<std::string> distinct;
  uint32_t tokens = 0;
  for (uint32_t i = 0; i < 6; ++i) {
    distinct.insert(r.text[i]);
    tokens += static_cast<uint32_t>(r.tokens[i].size());
  }
  EXPECT_GE(distinct.size(), 2u) << "samples keyed by (seed, i) should differ";
  EXPECT_GE(u.completion_tokens(), tokens);
  // Sample 0 is keyed like a single request with the same seed.
  req.clear_n();
  const v1::GenerateResponse single = MustGenerate(req);
  EXPECT_EQ(Ids(single.samples(0).token_ids()), r.tokens[0]);
}

TEST_F(BlackboxTest, SameSeedSameTokensAloneOrAmong30Others) {
  v1::GenerateRequest probe = Request("Once upon a time there was", 48, 0.9f, 1234);
  probe.mutable_activation()->set_kind("stocha");
  probe.mutable_activation()->set_p(0.3f);
  const std::vector<int> alone = Ids(MustGenerate(probe).samples(0).token_ids());
  ASSERT_FALSE(alone.empty());
  std::vector<std::thread> others;
  others.reserve(30);
  std::atomic<int> others_ok{0};
  for (int i = 0; i < 30; ++i) {
    others.emplace_back([&, i] {
      auto stub = v1::Stocha::NewStub(server_->channel());
      v1::GenerateRequest r =
          Request(absl::StrFormat("Tom had %d red %s", i, i % 2 ? "balls" : "cars"), 20 + i, 1.0f,
                  1000 + i);
      auto ctx = Context();
      auto reader = stub->GenerateStream(ctx.get(), r);
      if (ReadStream(ctx.get(), reader.get()).status.ok()) {
        ++others_ok;
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(5));  // let the batch fill
  const std::vector<int> loaded = Ids(MustGenerate(probe).samples(0).token_ids());
  for (std::thread& t : others) {
    t.join();
  }
  EXPECT_EQ(others_ok.load(), 30);
  EXPECT_EQ(loaded, alone);
}

TEST_F(BlackboxTest, ThirtyTwoConcurrentClientsGetCorrectCompleteAnswers) {
  const std::vector<std::string> prompts = {"Once upon a time", "The cat", "A little girl",
                                            "One day"};
  std::vector<v1::GenerateResponse> expected;
  expected.reserve(prompts.size());
  for (const std::string& p : prompts) {
    expected.push_back(MustGenerate(Request(p, 32)));
  }
  std::vector<std::string> problems(32);  // one slot per client: no lock needed
  std::vector<std::thread> clients;
  clients.reserve(32);
  for (int i = 0; i < 32; ++i) {
    clients.emplace_back([&, i] {
      auto stub = v1::Stocha::NewStub(server_->NewChannel());
      const v1::GenerateResponse& want = expected[i % prompts.size()];
      v1::GenerateRequest req = Request(prompts[i % prompts.size()], 32);
      std::string text;
      std::vector<int> tokens;
      v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
      if (i % 2 == 0) {
        v1::GenerateResponse r;
        auto ctx = Context();
        ctx->set_wait_for_ready(true);  // 32 fresh connections at once: a refused connect
                                        // is retried, as a real client would
        grpc::Status st = stub->Generate(ctx.get(), req, &r);
        if (!st.ok()) {
          problems[i] = "Generate failed: " + st.error_message();
          return;
        }
        text = r.samples(0).text();
        tokens = Ids(r.samples(0).token_ids());
        finish = r.samples(0).finish_reason();
      } else {
        auto ctx = Context();
        ctx->set_wait_for_ready(true);
        auto reader = stub->GenerateStream(ctx.get(), req);
        StreamResult r = ReadStream(ctx.get(), reader.get());
        if (!r.status.ok() || !r.summary) {
          problems[i] = "GenerateStream failed: " + r.status.error_message();
          return;
        }
        text = r.text[0];
        tokens = r.tokens[0];
        finish = r.finish[0];
      }
      if (text != want.samples(0).text() || tokens != Ids(want.samples(0).token_ids()) ||
          finish != want.samples(0).finish_reason()) {
        problems[i] = "got '" + text + "' (" + std::to_string(tokens.size()) + " tokens, finish " +
                      std::to_string(finish) + "), want '" + want.samples(0).text() + "'";
      }
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(problems[i], "") << "client " << i << (i % 2 == 0 ? " (unary)" : " (stream)");
  }
}

TEST_F(BlackboxTest, StopStringIsCutAndNeverStreamed) {
  const std::string full = MustGenerate(Request("Once upon a time", 40)).samples(0).text();
  ASSERT_GT(full.size(), 20u);
  const std::string stop = full.substr(10, 4);
  const size_t at = full.find(stop);
  v1::GenerateRequest req = Request("Once upon a time", 40);
  req.add_stop(stop);
  auto ctx = Context();
  auto reader = stub_->GenerateStream(ctx.get(), req);
  StreamResult r = ReadStream(ctx.get(), reader.get());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.text[0], full.substr(0, at));
  EXPECT_EQ(r.finish[0], v1::FINISH_REASON_STOP);
  EXPECT_EQ(r.text[0].find(stop), std::string::npos);
}

TEST_F(BlackboxTest, LogprobsWithAlternatives) {
  v1::GenerateRequest req = Request("The sun", 8);
  req.set_logprobs(3);
  const v1::GenerateResponse r = MustGenerate(req);
  const v1::Sample& s = r.samples(0);
  ASSERT_EQ(s.logprobs_size(), s.token_ids_size());
  for (int i = 0; i < s.logprobs_size(); ++i) {
    EXPECT_EQ(s.logprobs(i).token_id(), s.token_ids(i));
    EXPECT_LE(s.logprobs(i).logprob(), 0.0f);
    ASSERT_EQ(s.logprobs(i).top_size(), 3);
    EXPECT_EQ(s.logprobs(i).top(0).token_id(), s.token_ids(i)) << "greedy picks the best";
  }
}

TEST_F(BlackboxTest, ModelInfoAndLoad) {
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(Context().get(), {}, &info).ok());
  EXPECT_EQ(info.vocab_size(), 512u);
  EXPECT_EQ(info.num_layers(), 5u);
  EXPECT_GT(info.context_length(), 0u);
  EXPECT_TRUE(info.deterministic());
  EXPECT_EQ(info.limits().max_logprobs(), 20u);
  EXPECT_EQ(info.activation_modes_size(), 3);
  v1::Load load;
  ASSERT_TRUE(stub_->GetLoad(Context().get(), {}, &load).ok());
  EXPECT_GT(load.kv_tokens_budget(), 0u);
  EXPECT_GT(load.steps(), 0u);  // at least the warm-up's (its request is not a call)
  uint64_t model_info_ok = 0;
  for (const v1::RequestCount& c : load.requests()) {
    if (c.rpc() == "GetModelInfo" && c.code() == "OK") model_info_ok = c.count();
  }
  EXPECT_GE(model_info_ok, 1u);  // the call above, counted before its answer went out
}

// The wire speaks the engine's activation vocabulary (engine/activation.h): `swiglu` is
// silu, names are case-insensitive, and what the server writes back parses as what ran.
TEST_F(BlackboxTest, ActivationNamesAreTheEnginesVocabulary) {
  v1::GenerateRequest silu = Request("Once upon a time", 16);
  silu.mutable_activation()->set_kind("silu");
  v1::GenerateRequest swiglu = silu;
  swiglu.mutable_activation()->set_kind("SwiGLU");
  const v1::GenerateResponse a = MustGenerate(silu);
  const v1::GenerateResponse b = MustGenerate(swiglu);
  ASSERT_EQ(a.samples_size(), 1);
  ASSERT_EQ(b.samples_size(), 1);
  EXPECT_EQ(a.activation(), "silu");
  EXPECT_EQ(b.activation(), "silu");
  EXPECT_EQ(Ids(a.samples(0).token_ids()), Ids(b.samples(0).token_ids()));
  v1::GenerateRequest relu = silu;
  relu.mutable_activation()->set_kind("relu");
  EXPECT_NE(Ids(MustGenerate(relu).samples(0).token_ids()), Ids(a.samples(0).token_ids()))
      << "a different activation should change the greedy text (else the kind is ignored)";
  v1::GenerateRequest stocha = silu;
  stocha.mutable_activation()->set_kind("StochA");
  stocha.mutable_activation()->set_p(0.3f);
  EXPECT_EQ(MustGenerate(stocha).activation(), "stocha:0.3");
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(Context().get(), {}, &info).ok());
  EXPECT_EQ(
      std::vector<std::string>(info.activation_modes().begin(), info.activation_modes().end()),
      (std::vector<std::string>{"silu", "relu", "stocha"}));
  v1::GenerateRequest gelu = silu;
  gelu.mutable_activation()->set_kind("gelu");
  const grpc::Status s = Call(gelu);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "activation.kind: unknown activation 'gelu' (expected silu, relu or stocha; swiglu "
            "is an alias of silu)");
}

// Every invalid field answers INVALID_ARGUMENT naming the field; the server stays up.
TEST_F(BlackboxTest, InvalidFieldsAreNamed) {
  struct Case {
    std::string field;
    v1::GenerateRequest req;
  };
  std::vector<Case> cases;
  auto add = [&](const std::string& field, auto mutate) {
    v1::GenerateRequest r = Request("Hi", 4);
    mutate(r);
    cases.push_back({field, r});
  };
  add("prompt", [](auto& r) { r.add_prompt_token_ids(1); });  // text and ids
  add("prompt", [](auto& r) {
    r.clear_prompt();
    for (int i = 0; i < 5000; ++i) {
      r.add_prompt_token_ids(30);
    }
  });
  add("prompt_token_ids[1]", [](auto& r) {
    r.clear_prompt();
    r.add_prompt_token_ids(1);
    r.add_prompt_token_ids(9999);
  });
  add("max_new_tokens", [](auto& r) { r.set_max_new_tokens(100000); });
  add("sampling.temperature", [](auto& r) { r.mutable_sampling()->set_temperature(-0.5f); });
  add("sampling.top_p", [](auto& r) { r.mutable_sampling()->set_top_p(0.0f); });
  add("sampling.top_p", [](auto& r) { r.mutable_sampling()->set_top_p(1.5f); });
  add("sampling.repetition_penalty",
      [](auto& r) { r.mutable_sampling()->set_repetition_penalty(-1); });
  add("sampling.frequency_penalty",
      [](auto& r) { r.mutable_sampling()->set_frequency_penalty(-1); });
  add("sampling.presence_penalty", [](auto& r) { r.mutable_sampling()->set_presence_penalty(-1); });
  add("activation.kind", [](auto& r) { r.mutable_activation()->set_kind("gelu"); });
  add("activation.p", [](auto& r) {
    r.mutable_activation()->set_kind("stocha");
    r.mutable_activation()->set_p(1.5f);
  });
  add("activation.p", [](auto& r) {
    r.mutable_activation()->set_kind("stocha");
    r.mutable_activation()->set_p(-0.1f);
  });
  add("n", [](auto& r) { r.set_n(1000); });
  add("logprobs", [](auto& r) { r.set_logprobs(21); });
  add("stop_token_ids[0]", [](auto& r) { r.add_stop_token_ids(-3); });
  for (const Case& c : cases) {
    grpc::Status s = Call(c.req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_EQ(s.error_message().rfind(c.field, 0), 0u)
        << "message should start with '" << c.field << "': " << s.error_message();
  }
  v1::GenerateRequest two = Request("Hi", 4);
  two.set_n(2);
  auto ctx = Context();
  auto reader = stub_->GenerateStream(ctx.get(), two);
  StreamResult r = ReadStream(ctx.get(), reader.get());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::DetokenizeRequest bad_ids;
  bad_ids.add_token_ids(512);
  v1::DetokenizeResponse text;
  EXPECT_EQ(stub_->Detokenize(Context().get(), bad_ids, &text).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(server_->WaitServing(absl::Seconds(1)), absl::OkStatus());
  EXPECT_TRUE(Call(Request("Hi", 4)).ok());
}

// Server reflection answers list_services (raw bytes: Debian ships no reflection .proto).
TEST_F(BlackboxTest, ReflectionListsTheServices) {
  grpc::GenericStub stub(server_->channel());
  grpc::CompletionQueue cq;
  auto ctx = Context(absl::Seconds(10));
  auto call = stub.PrepareCall(
      ctx.get(), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  auto step = [&cq](intptr_t tag) {
    void* got = nullptr;
    bool ok = false;
    return cq.Next(&got, &ok) && ok && reinterpret_cast<intptr_t>(got) == tag;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(step(1));
  const char request[] = {0x3a, 0x00};  // ServerReflectionRequest{list_services: ""}
  grpc::Slice slice(request, sizeof(request));
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  ASSERT_TRUE(step(2));
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(step(3));
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(4));
  ASSERT_TRUE(step(4));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(in.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_NE(bytes.find("stocha.v1.Stocha"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  ASSERT_TRUE(step(5));
  EXPECT_TRUE(status.ok()) << status.error_message();
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(BlackboxTest, EmptyRequestStartsFromBos) {
  const v1::GenerateResponse r = MustGenerate(v1::GenerateRequest());
  EXPECT_EQ(r.usage().prompt_tokens(), 1u);
  EXPECT_GT(r.samples(0).token_ids_size(), 0);
}

}  // namespace
}  // namespace stocha::server::testing
