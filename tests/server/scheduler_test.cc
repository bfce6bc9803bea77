// Scheduler unit tests on a fake engine: batching, prefill chunks, forks, stops, limits.
#include "server/scheduler.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/fake_engine.h"
#include "tests/server/test_sink.h"

namespace stocha::server {
namespace {

using testing::FakeEngine;
using testing::TestSink;

struct Harness {
  explicit Harness(SchedulerOptions options = {}, absl::Duration step_delay = absl::ZeroDuration(),
                   int max_context = 64,
                   const std::function<void(FakeEngine&)>& configure = nullptr) {
    auto engine = std::make_unique<FakeEngine>(max_context);
    engine->set_step_delay(step_delay);
    if (configure) configure(*engine);
    fake = engine.get();
    auto s = Scheduler::Create(std::move(engine), options);
    EXPECT_TRUE(s.ok()) << s.status();
    scheduler = std::move(*s);
  }
  GenerationRequest Request(const std::string& text, int max_new) const {
    GenerationRequest r;
    r.prompt = *fake->tokenizer()->Encode(text, /*add_bos=*/true);
    r.max_new_tokens = max_new;
    r.sampling.temperature = 0.0f;
    return r;
  }
  absl::Status Submit(GenerationRequest r, TestSink* sink,
                      std::shared_ptr<RequestControl> control = nullptr) {
    if (control == nullptr) control = std::make_shared<RequestControl>();
    return scheduler->Submit(std::move(r), sink, std::move(control));
  }

  FakeEngine* fake = nullptr;
  std::unique_ptr<Scheduler> scheduler;
};

TEST(SchedulerTest, GeneratesTokensTextAndUsage) {
  Harness h;
  TestSink sink;
  ASSERT_TRUE(h.Submit(h.Request("abc", 5), &sink).ok());
  absl::StatusOr<RequestSummary> sum = sink.Wait();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sink.Text(0), "defgh");
  EXPECT_EQ(sink.Tokens(0), (std::vector<int>{6, 7, 8, 9, 10}));
  ASSERT_TRUE(sink.Last(0).has_value());
  EXPECT_EQ(*sink.Last(0)->finish, FinishReason::kLength);
  EXPECT_EQ(sum->prompt_tokens, 4);
  EXPECT_EQ(sum->prompt_tokens_computed, 4);
  EXPECT_EQ(sum->completion_tokens, 5);
  ASSERT_EQ(sum->stats.layers.size(), 2u);
  EXPECT_EQ(sum->stats.layers[0].prompt_tokens, 4);
  EXPECT_EQ(sum->stats.layers[0].generated_tokens, 4);  // the last token is never fed back
  EXPECT_EQ(h.fake->live_sequences(), 0);
  EXPECT_EQ(sink.calls_after_done(), 0);
}

TEST(SchedulerTest, StopStringNeverLeaks) {
  Harness h;
  TestSink sink;
  GenerationRequest r = h.Request("abc", 10);
  r.stop_strings = {"fg"};
  ASSERT_TRUE(h.Submit(std::move(r), &sink).ok());
  ASSERT_TRUE(sink.Wait().ok());
  EXPECT_EQ(sink.Text(0), "de");
  EXPECT_EQ(sink.Tokens(0), (std::vector<int>{6, 7}));
  for (const SampleChunk& c : sink.chunks()) EXPECT_EQ(c.text.find('f'), std::string::npos);
  EXPECT_EQ(*sink.Last(0)->finish, FinishReason::kStop);
  EXPECT_EQ(sink.Last(0)->stop_string, "fg");
}

TEST(SchedulerTest, HeldBackPrefixIsReleasedWhenTheStopDoesNotMatch) {
  Harness h;
  TestSink sink;
  GenerationRequest r = h.Request("abc", 6);
  r.stop_strings = {"fx"};
  ASSERT_TRUE(h.Submit(std::move(r), &sink).ok());
  ASSERT_TRUE(sink.Wait().ok());
  EXPECT_EQ(sink.Text(0), "defghi");
  EXPECT_EQ(sink.Tokens(0).size(), 6u);
  EXPECT_EQ(*sink.Last(0)->finish, FinishReason::kLength);
}

TEST(SchedulerTest, StopTokenAndEos) {
  Harness h;
  TestSink stop_sink, eos_sink, ignore_sink;
  GenerationRequest stop = h.Request("abc", 10);
  stop.stop_token_ids = {8};  // 'f'
  ASSERT_TRUE(h.Submit(std::move(stop), &stop_sink).ok());
  ASSERT_TRUE(h.Submit(h.Request("Z", 10), &eos_sink).ok());  // 'Z' -> EOS
  GenerationRequest ignore = h.Request("Z", 3);
  ignore.ignore_eos = true;
  ASSERT_TRUE(h.Submit(std::move(ignore), &ignore_sink).ok());
  ASSERT_TRUE(stop_sink.Wait().ok());
  ASSERT_TRUE(eos_sink.Wait().ok());
  ASSERT_TRUE(ignore_sink.Wait().ok());
  EXPECT_EQ(stop_sink.Text(0), "de");
  EXPECT_EQ(*stop_sink.Last(0)->finish, FinishReason::kStop);
  EXPECT_EQ(stop_sink.Last(0)->stop_token_id, 8);
  EXPECT_EQ(eos_sink.Text(0), "");
  EXPECT_EQ(*eos_sink.Last(0)->finish, FinishReason::kEos);
  EXPECT_EQ(ignore_sink.Tokens(0), (std::vector<int>{2, 3, 4}));
  EXPECT_EQ(ignore_sink.Text(0), "ab");
}

TEST(SchedulerTest, ZeroNewTokensOnlyPrefills) {
  Harness h;
  TestSink sink;
  ASSERT_TRUE(h.Submit(h.Request("abc", 0), &sink).ok());
  absl::StatusOr<RequestSummary> sum = sink.Wait();
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->completion_tokens, 0);
  EXPECT_EQ(*sink.Last(0)->finish, FinishReason::kLength);
}

TEST(SchedulerTest, MultiSamplePrefillsOnceAndForks) {
  Harness h;
  TestSink sink;
  GenerationRequest r = h.Request("abc", 4);
  r.n = 4;
  ASSERT_TRUE(h.Submit(std::move(r), &sink).ok());
  absl::StatusOr<RequestSummary> sum = sink.Wait();
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(h.fake->prompt_tokens(), 4);
  EXPECT_EQ(h.fake->forks(), 3);
  EXPECT_EQ(sum->prompt_tokens_computed, 4);
  EXPECT_EQ(sum->completion_tokens, 16);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(sink.Text(i), "defg") << i;
    ASSERT_TRUE(sink.Last(i).has_value()) << i;
  }
  EXPECT_EQ(h.fake->live_sequences(), 0);
}

TEST(SchedulerTest, LongPromptIsChunkedAndDoesNotStallDecoding) {
  SchedulerOptions o;
  o.max_batch_size = 4;
  o.prefill_chunk = 8;
  o.max_tokens_per_step = 16;
  Harness h(o, absl::Milliseconds(2));
  TestSink a, b;
  ASSERT_TRUE(h.Submit(h.Request("ab", 40), &a).ok());
  while (a.Tokens(0).empty()) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(h.Submit(h.Request(std::string(30, 'k'), 2), &b).ok());  // 31 prompt tokens
  ASSERT_TRUE(b.Wait().ok());
  ASSERT_TRUE(a.Wait().ok());
  std::vector<int> chunks;
  for (const std::vector<int>& step : h.fake->steps()) {
    bool prompt = false, decode = false;
    for (int n : step) {
      if (n < 0 && n != -3) {  // a's own prompt is 3 tokens
        chunks.push_back(-n);
        prompt = true;
      }
      if (n > 0) decode = true;
    }
    if (prompt) {
      EXPECT_TRUE(decode) << "a prompt chunk ran without a's decode step";
    }
  }
  EXPECT_EQ(chunks, (std::vector<int>{8, 8, 8, 7}));
  EXPECT_EQ(a.Text(0).size(), 40u);
}

TEST(SchedulerTest, NewRequestsJoinTheRunningBatch) {
  Harness h({}, absl::Milliseconds(1));
  TestSink a, b;
  ASSERT_TRUE(h.Submit(h.Request("a", 30), &a).ok());
  while (a.Tokens(0).empty()) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(h.Submit(h.Request("m", 5), &b).ok());
  ASSERT_TRUE(b.Wait().ok());
  EXPECT_FALSE(a.done()) << "b should finish while a is still decoding";
  ASSERT_TRUE(a.Wait().ok());
  int shared_steps = 0;
  for (const std::vector<int>& step : h.fake->steps()) shared_steps += step.size() >= 2;
  EXPECT_GE(shared_steps, 5);
}

TEST(SchedulerTest, FullQueueIsRefusedAtOnce) {
  SchedulerOptions o;
  o.max_batch_size = 1;
  o.max_tokens_per_step = 8;
  o.queue.max_requests = 2;
  Harness h(o, absl::Milliseconds(2));
  std::vector<std::unique_ptr<TestSink>> sinks;
  int refused = 0;
  for (int i = 0; i < 6; ++i) {
    sinks.push_back(std::make_unique<TestSink>());
    absl::Status s = h.Submit(h.Request("a", 20), sinks.back().get());
    if (absl::IsResourceExhausted(s)) {
      ++refused;
      sinks.pop_back();
    } else {
      ASSERT_TRUE(s.ok()) << s;
    }
  }
  EXPECT_GE(refused, 3);
  for (auto& s : sinks) EXPECT_TRUE(s->Wait().ok());
  EXPECT_EQ(h.scheduler->Load().refused_queue_full, static_cast<uint64_t>(refused));
}

TEST(SchedulerTest, QueueTimeLimitAnswersResourceExhausted) {
  SchedulerOptions o;
  o.max_batch_size = 1;
  o.max_tokens_per_step = 8;
  o.max_queue_time = absl::Milliseconds(30);
  Harness h(o, absl::Milliseconds(3));
  TestSink a, b;
  ASSERT_TRUE(h.Submit(h.Request("a", 50), &a).ok());
  ASSERT_TRUE(h.Submit(h.Request("a", 5), &b).ok());
  EXPECT_TRUE(absl::IsResourceExhausted(b.Wait().status())) << b.Wait().status();
  EXPECT_TRUE(a.Wait().ok());
}

TEST(SchedulerTest, KvBudgetMakesRequestsWaitNotFail) {
  SchedulerOptions o;
  o.kv_budget_bytes = 100;  // the fake takes 1 byte per position: 100 positions
  Harness h(o, absl::Milliseconds(1));
  std::vector<std::unique_ptr<TestSink>> sinks;
  for (int i = 0; i < 10; ++i) {
    sinks.push_back(std::make_unique<TestSink>());
    ASSERT_TRUE(h.Submit(h.Request("abc", 40), sinks.back().get()).ok());  // 44 positions
  }
  for (auto& s : sinks) {
    ASSERT_TRUE(s->Wait().ok());
    EXPECT_EQ(s->Tokens(0).size(), 40u);
  }
  EXPECT_LE(h.fake->max_live_positions(), 100);
  // More than the whole budget can never run: refused at once.
  TestSink big;
  GenerationRequest r = h.Request("abc", 60);
  r.n = 2;  // 2 * 64 positions
  EXPECT_TRUE(absl::IsResourceExhausted(h.Submit(std::move(r), &big)));
}

// A GPU-like engine: every sequence holds max_context (64) positions from AddSequence/Fork
// to RemoveSequence, however short it stays.
void WholeContext(FakeEngine& e) { e.set_kv_reservation(KvReservation::kWholeContext); }

TEST(SchedulerTest, WholeContextSequencesAreChargedTheirWholeContext) {
  SchedulerOptions o;
  o.kv_budget_bytes = 150;  // 1 byte per position: two 64-position slots, not three
  Harness h(o, absl::Milliseconds(1), 64, WholeContext);
  std::vector<std::unique_ptr<TestSink>> sinks;
  for (int i = 0; i < 6; ++i) {
    sinks.push_back(std::make_unique<TestSink>());
    // 9 positions each: charged by position, all 6 (54) would run at once.
    ASSERT_TRUE(h.Submit(h.Request("abc", 5), sinks.back().get()).ok());
  }
  for (auto& s : sinks) {
    ASSERT_TRUE(s->Wait().ok());
    EXPECT_EQ(s->Text(0), "defgh");
  }
  EXPECT_EQ(h.fake->max_live_sequences(), 2);
  // n = 3 takes three whole contexts (192 > 150): refused at once; n = 2 runs.
  TestSink three, two;
  GenerationRequest r3 = h.Request("abc", 1);
  r3.n = 3;
  EXPECT_TRUE(absl::IsResourceExhausted(h.Submit(std::move(r3), &three)));
  EXPECT_EQ(h.scheduler->Load().refused_kv_budget, 1u);
  GenerationRequest r2 = h.Request("abc", 1);
  r2.n = 2;
  ASSERT_TRUE(h.Submit(std::move(r2), &two).ok());
  ASSERT_TRUE(two.Wait().ok());
  EXPECT_EQ(two.Text(1), "d");
  EXPECT_EQ(h.scheduler->Load().kv_reserved, 0);
  EXPECT_EQ(h.scheduler->Load().kv_capacity, 150);
}

TEST(SchedulerTest, DefaultKvBudgetComesFromTheGpusFreeMemory) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_EQ(DeviceKvMarginBytes(20 * kGiB), kGiB);     // 5% of the total
  EXPECT_EQ(DeviceKvMarginBytes(4 * kGiB), kGiB / 2);  // at least 512 MiB
  // 20 GiB GPU with 1 GiB + 200 bytes free after the weights: 200 positions (1 byte each).
  Harness h({}, absl::ZeroDuration(), 64, [](FakeEngine& e) {
    WholeContext(e);
    e.set_device_memory(DeviceMemoryInfo{kGiB + 200, 20 * kGiB});
  });
  EXPECT_EQ(h.scheduler->Load().kv_capacity, 200);
  // Plenty free: capped at max_batch_size (32) full contexts.
  Harness roomy({}, absl::ZeroDuration(), 64, [](FakeEngine& e) {
    WholeContext(e);
    e.set_device_memory(DeviceMemoryInfo{10 * kGiB, 20 * kGiB});
  });
  EXPECT_EQ(roomy.scheduler->Load().kv_capacity, 32 * 64);
  // An explicit --kv_cache_mb wins over the device.
  SchedulerOptions o;
  o.kv_budget_bytes = 1000;
  Harness flag(o, absl::ZeroDuration(), 64, [](FakeEngine& e) {
    WholeContext(e);
    e.set_device_memory(DeviceMemoryInfo{kGiB + 200, 20 * kGiB});
  });
  EXPECT_EQ(flag.scheduler->Load().kv_capacity, 1000);
  // Room for less than one whole context (63 positions): the server cannot start.
  auto tight = std::make_unique<FakeEngine>(64);
  WholeContext(*tight);
  tight->set_device_memory(DeviceMemoryInfo{kGiB + 63, 20 * kGiB});
  absl::StatusOr<std::unique_ptr<Scheduler>> s = Scheduler::Create(std::move(tight), {});
  ASSERT_TRUE(absl::IsResourceExhausted(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("--max_context"), std::string::npos) << s.status();
  // The same budget by flag is the operator's mistake.
  auto small = std::make_unique<FakeEngine>(64);
  WholeContext(*small);
  SchedulerOptions o63;
  o63.kv_budget_bytes = 63;
  EXPECT_TRUE(absl::IsInvalidArgument(Scheduler::Create(std::move(small), o63).status()));
}

TEST(SchedulerTest, SlotOutOfMemoryIsThatRequestsResourceExhausted) {
  // More budget than the "device" holds (an explicit --kv_cache_mb over the GPU's memory).
  SchedulerOptions o;
  o.kv_budget_bytes = 8 * 64;
  Harness h(o, absl::ZeroDuration(), 64, WholeContext);
  // n = 3: the root and the first fork get slots, the second fork does not.
  h.fake->FailSlots(/*after=*/2, /*n=*/1);
  TestSink forked;
  GenerationRequest r = h.Request("abc", 3);
  r.n = 3;
  ASSERT_TRUE(h.Submit(std::move(r), &forked).ok());
  absl::Status fs = forked.Wait().status();
  EXPECT_TRUE(absl::IsResourceExhausted(fs)) << fs;
  EXPECT_EQ(h.fake->live_sequences(), 0);
  // The root's slot itself.
  h.fake->FailSlots(/*after=*/0, /*n=*/1);
  TestSink root;
  ASSERT_TRUE(h.Submit(h.Request("abc", 3), &root).ok());
  EXPECT_TRUE(absl::IsResourceExhausted(root.Wait().status())) << root.Wait().status();
  // The server goes on serving.
  TestSink after;
  GenerationRequest again = h.Request("abc", 3);
  again.n = 3;
  ASSERT_TRUE(h.Submit(std::move(again), &after).ok());
  ASSERT_TRUE(after.Wait().ok()) << after.Wait().status();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(after.Text(i), "def") << i;
  EXPECT_EQ(h.fake->live_sequences(), 0);
  EXPECT_EQ(h.scheduler->Load().kv_reserved, 0);
}

TEST(SchedulerTest, CancelFreesTheSequencesAtTheNextStep) {
  Harness h({}, absl::Milliseconds(2));
  TestSink sink;
  auto control = std::make_shared<RequestControl>();
  ASSERT_TRUE(h.Submit(h.Request("a", 60), &sink, control).ok());
  while (sink.Tokens(0).size() < 3) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  control->Cancel();
  EXPECT_TRUE(absl::IsCancelled(sink.Wait().status()));
  EXPECT_LT(sink.Tokens(0).size(), 60u);
  EXPECT_EQ(h.fake->live_sequences(), 0);
  EXPECT_EQ(h.scheduler->Load().kv_reserved, 0);
}

TEST(SchedulerTest, DeadlineStopsTheWork) {
  Harness h({}, absl::Milliseconds(2));
  TestSink sink;
  GenerationRequest r = h.Request("a", 60);
  r.deadline = absl::Now() + absl::Milliseconds(20);
  ASSERT_TRUE(h.Submit(std::move(r), &sink).ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(sink.Wait().status()));
  EXPECT_EQ(h.fake->live_sequences(), 0);
}

TEST(SchedulerTest, DrainRefusesNewWorkAndStopAnswersEverything) {
  SchedulerOptions o;
  o.max_batch_size = 1;
  o.max_tokens_per_step = 8;
  Harness h(o, absl::Milliseconds(5));
  TestSink running, queued, late;
  ASSERT_TRUE(h.Submit(h.Request("a", 60), &running).ok());
  ASSERT_TRUE(h.Submit(h.Request("a", 60), &queued).ok());
  h.scheduler->Drain();
  EXPECT_TRUE(absl::IsUnavailable(h.Submit(h.Request("a", 1), &late)));
  EXPECT_FALSE(h.scheduler->WaitIdle(absl::Now() + absl::Milliseconds(10)));
  h.scheduler->Stop();
  EXPECT_TRUE(absl::IsUnavailable(running.Wait().status()));
  EXPECT_TRUE(absl::IsUnavailable(queued.Wait().status()));
  EXPECT_TRUE(h.scheduler->WaitIdle(absl::Now()));
}

TEST(SchedulerTest, EngineFailureFailsOnlyThatStep) {
  Harness h;
  h.fake->FailNextSteps(1);
  TestSink first, second;
  ASSERT_TRUE(h.Submit(h.Request("abc", 3), &first).ok());
  EXPECT_TRUE(absl::IsInternal(first.Wait().status()));
  ASSERT_TRUE(h.Submit(h.Request("abc", 3), &second).ok());
  EXPECT_TRUE(second.Wait().ok());
  EXPECT_EQ(second.Text(0), "def");
  EXPECT_EQ(h.fake->live_sequences(), 0);
}

TEST(SchedulerTest, InconsistentRequestsAreRefused) {
  Harness h;
  TestSink sink;
  GenerationRequest too_long = h.Request("abc", 61);  // 4 + 61 > 64
  EXPECT_TRUE(absl::IsInvalidArgument(h.Submit(std::move(too_long), &sink)));
  GenerationRequest too_wide = h.Request("abc", 1);
  too_wide.n = 33;
  EXPECT_TRUE(absl::IsInvalidArgument(h.Submit(std::move(too_wide), &sink)));
  EXPECT_FALSE(sink.done());
}

// Many submitting threads at once (run under TSan in the sanitizer build).
TEST(SchedulerTest, ConcurrentClientsAllGetCompleteAnswers) {
  SchedulerOptions o;
  o.max_batch_size = 8;
  o.max_tokens_per_step = 32;
  Harness h(o);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  threads.reserve(16);
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&h, &ok, t] {
      for (int i = 0; i < 4; ++i) {
        TestSink sink;
        auto control = std::make_shared<RequestControl>();
        const std::string prompt(1, static_cast<char>('a' + (t + i) % 26));
        GenerationRequest r = h.Request(prompt, 6);
        if (i == 3 && t % 4 == 0) control->Cancel();
        if (!h.scheduler->Submit(std::move(r), &sink, control).ok()) continue;
        absl::StatusOr<RequestSummary> s = sink.Wait();
        if (control->cancelled()) continue;
        std::string want;
        for (int k = 1; k <= 6; ++k) want += static_cast<char>('a' + (t + i + k) % 26);
        if (s.ok() && sink.Text(0) == want) ++ok;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(ok.load(), 16 * 4 - 4);
  EXPECT_EQ(h.fake->live_sequences(), 0);
}

}  // namespace
}  // namespace stocha::server
