// The scheduler's KV accounting over the real CPU engine (stories260K), as itself and behind
// a simulated GPU's whole-context slots and memory (the real CUDA backend needs a GPU).
#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/kv_budget.h"
#include "server/scheduler.h"
#include "tests/engine/stories260k_model.h"
#include "tests/server/test_sink.h"

namespace stocha::server {
namespace {

using testing::TestSink;

constexpr int kContext = 64;

// A simulated GPU's memory: `total` bytes, `free` of them free before any KV slot.
struct SimulatedDevice {
  int64_t total = 0;
  int64_t free = 0;
};

// Counts the sequences the scheduler holds in the real engine. With a device, it also plays
// the CUDA backend's KV memory: whole-context slots (max_context positions each, taken at
// AddSequence/Fork) out of the device's free memory, a slot that does not fit refused with
// ResourceExhausted as cudaMalloc's failure is, and that memory reported by DeviceMemory().
// The math and the sequences stay the CPU engine's. Thread-safety: engine calls on the
// scheduler's thread; the counters from any thread.
class CountingEngine final : public BatchEngine {
 public:
  CountingEngine(std::unique_ptr<BatchEngine> cpu, std::optional<SimulatedDevice> device)
      : cpu_(std::move(cpu)),
        device_(device),
        slot_bytes_(cpu_->KvBytesPerPosition() * cpu_->max_context()) {}

  absl::StatusOr<SequenceId> AddSequence(const SequenceOptions& options) override {
    if (absl::Status s = TakeSlot(); !s.ok()) return s;
    absl::StatusOr<SequenceId> id = cpu_->AddSequence(options);
    if (!id.ok()) GiveSlot();
    return id;
  }
  absl::StatusOr<SequenceId> Fork(SequenceId parent, uint32_t sample_index) override {
    if (absl::Status s = TakeSlot(); !s.ok()) return s;
    absl::StatusOr<SequenceId> id = cpu_->Fork(parent, sample_index);
    if (!id.ok()) GiveSlot();
    return id;
  }
  absl::Status RemoveSequence(SequenceId seq) override {
    absl::Status s = cpu_->RemoveSequence(seq);
    if (s.ok()) GiveSlot();
    return s;
  }
  absl::StatusOr<StepOutput> Step(absl::Span<const StepInput> inputs) override {
    return cpu_->Step(inputs);
  }
  const ModelConfig& config() const override { return cpu_->config(); }
  const Tokenizer* tokenizer() const override { return cpu_->tokenizer(); }
  int max_context() const override { return cpu_->max_context(); }
  int64_t KvBytesPerPosition() const override { return cpu_->KvBytesPerPosition(); }
  KvReservation kv_reservation() const override {
    return device_.has_value() ? KvReservation::kWholeContext : cpu_->kv_reservation();
  }
  std::optional<DeviceMemoryInfo> DeviceMemory() const override {
    if (!device_.has_value()) return std::nullopt;
    std::lock_guard<std::mutex> lock(mu_);
    return DeviceMemoryInfo{device_->free - live_ * slot_bytes_, device_->total};
  }
  bool deterministic() const override { return cpu_->deterministic(); }

  int max_live() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_live_;
  }
  int live() const {
    std::lock_guard<std::mutex> lock(mu_);
    return live_;
  }
  int refused_slots() const {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_slots_;
  }
  int64_t slot_bytes() const { return slot_bytes_; }

 private:
  absl::Status TakeSlot() {
    std::lock_guard<std::mutex> lock(mu_);
    if (device_.has_value() && (live_ + 1) * slot_bytes_ > device_->free) {
      ++refused_slots_;
      return absl::ResourceExhaustedError("simulated GPU: a KV slot does not fit");
    }
    max_live_ = std::max(max_live_, ++live_);
    return absl::OkStatus();
  }
  void GiveSlot() {
    std::lock_guard<std::mutex> lock(mu_);
    --live_;
  }

  std::unique_ptr<BatchEngine> cpu_;
  const std::optional<SimulatedDevice> device_;
  const int64_t slot_bytes_;
  mutable std::mutex mu_;  // guards the counters below
  int live_ = 0;
  int max_live_ = 0;
  int refused_slots_ = 0;
};

class SchedulerEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    STOCHA_REQUIRE_SHARED_DATA();
    absl::StatusOr<std::shared_ptr<const Model>> model = stocha::testing::LoadStories260K();
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *model;
  }

  // The real CPU engine (64 positions of context) behind a CountingEngine.
  std::unique_ptr<CountingEngine> MakeEngine(std::optional<SimulatedDevice> device) {
    EngineOptions o;
    o.max_context = kContext;
    o.deterministic = true;
    o.num_threads = 1;
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(model_, o);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return std::make_unique<CountingEngine>(WrapEngine(std::move(*engine)), device);
  }

  std::unique_ptr<Scheduler> Start(std::unique_ptr<CountingEngine> engine,
                                   SchedulerOptions options = {}) {
    engine_ = engine.get();
    options.step_delay = absl::Milliseconds(2);  // requests overlap however fast the model
    absl::StatusOr<std::unique_ptr<Scheduler>> s = Scheduler::Create(std::move(engine), options);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  GenerationRequest Request(int max_new, int n = 1) const {
    GenerationRequest r;
    r.prompt = *model_->tokenizer()->Encode("Once upon a time", /*add_bos=*/true);
    r.max_new_tokens = max_new;
    r.n = n;
    r.sampling.temperature = 0.0f;
    return r;
  }

  // Submits `count` requests at once; the number that completed OK, each with the same
  // greedy text (the model's, the same for every request).
  int RunAtOnce(Scheduler& s, int count, int max_new, int* resource_exhausted) {
    std::vector<std::unique_ptr<TestSink>> sinks;
    for (int i = 0; i < count; ++i) {
      sinks.push_back(std::make_unique<TestSink>());
      EXPECT_TRUE(
          s.Submit(Request(max_new), sinks.back().get(), std::make_shared<RequestControl>()).ok());
    }
    int ok = 0;
    for (auto& sink : sinks) {
      absl::StatusOr<RequestSummary> r = sink->Wait(absl::Seconds(60));
      if (r.ok()) {
        ++ok;
        EXPECT_EQ(sink->Tokens(0).size(), static_cast<size_t>(max_new));
        if (text_.empty()) text_ = sink->Text(0);
        EXPECT_EQ(sink->Text(0), text_);
      } else if (absl::IsResourceExhausted(r.status())) {
        ++*resource_exhausted;
      } else {
        ADD_FAILURE() << r.status();
      }
    }
    return ok;
  }

  std::shared_ptr<const Model> model_;
  CountingEngine* engine_ = nullptr;
  std::string text_;  // the greedy continuation every request must give
};

// The CPU's KV grows with the positions written: a request is charged n * (prompt +
// max_new_tokens), so more short requests than full contexts fit.
TEST_F(SchedulerEngineTest, CpuEngineChargesWrittenPositions) {
  std::unique_ptr<CountingEngine> engine = MakeEngine(std::nullopt);
  ASSERT_EQ(engine->kv_reservation(), KvReservation::kGrowing);
  const int prompt = static_cast<int>(Request(0).prompt.size());
  SchedulerOptions o;
  o.kv_budget_bytes = 3 * (prompt + 20) * engine->KvBytesPerPosition();  // 3 requests of 20
  std::unique_ptr<Scheduler> s = Start(std::move(engine), o);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->Load().kv_capacity, 3 * (prompt + 20));
  int refused = 0;
  EXPECT_EQ(RunAtOnce(*s, 6, 20, &refused), 6);
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(engine_->max_live(), 3);  // 3 * (prompt + 20) positions: more than one context
  TestSink wide;
  EXPECT_TRUE(absl::IsResourceExhausted(
      s->Submit(Request(20, 4), &wide, std::make_shared<RequestControl>())));
  EXPECT_EQ(engine_->live(), 0);
}

// On a GPU, --kv_cache_mb=0: the budget is the free memory after the weights less the
// margin, in whole contexts. 3.5 slots free beyond the margin: at most 3 sequences at once,
// however short (charged by position, all 8 would run together), and none is refused.
TEST_F(SchedulerEngineTest, GpuDefaultBudgetHoldsOnlyWholeContextsThatFit) {
  const int64_t total = int64_t{8} << 30;  // margin: 512 MiB
  std::unique_ptr<CountingEngine> probe = MakeEngine(std::nullopt);
  const int64_t slot = probe->slot_bytes();
  std::unique_ptr<CountingEngine> engine =
      MakeEngine(SimulatedDevice{total, DeviceKvMarginBytes(total) + 7 * slot / 2});
  ASSERT_EQ(engine->kv_reservation(), KvReservation::kWholeContext);
  std::unique_ptr<Scheduler> s = Start(std::move(engine));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->Load().kv_capacity, 7 * kContext / 2);
  int refused = 0;
  EXPECT_EQ(RunAtOnce(*s, 8, 10, &refused), 8);
  EXPECT_EQ(engine_->max_live(), 3);
  EXPECT_EQ(engine_->refused_slots(), 0);
  // n = 4 would take 4 whole contexts: more than the budget ever holds.
  TestSink wide;
  EXPECT_TRUE(absl::IsResourceExhausted(
      s->Submit(Request(10, 4), &wide, std::make_shared<RequestControl>())));
  EXPECT_EQ(s->Load().refused_kv_budget, 1u);
}

// --kv_cache_mb set beyond what the GPU holds: the slot allocation that fails is that
// request's RESOURCE_EXHAUSTED (an AddSequence or a MultiSample fork), and the server goes
// on serving the others and the next ones.
TEST_F(SchedulerEngineTest, SlotThatDoesNotFitIsThatRequestsResourceExhausted) {
  std::unique_ptr<CountingEngine> probe = MakeEngine(std::nullopt);
  const int64_t slot = probe->slot_bytes();
  std::unique_ptr<CountingEngine> engine = MakeEngine(SimulatedDevice{2 * slot, 2 * slot});
  SchedulerOptions o;
  o.kv_budget_bytes = 4 * slot;  // the operator's budget: twice what the device holds
  std::unique_ptr<Scheduler> s = Start(std::move(engine), o);
  ASSERT_NE(s, nullptr);
  // Three at once: two get slots, the third's AddSequence does not fit.
  int refused = 0;
  EXPECT_EQ(RunAtOnce(*s, 3, 12, &refused), 2);
  EXPECT_EQ(refused, 1);
  // n = 3 fits the budget, but its second fork does not fit the device.
  TestSink forked;
  ASSERT_TRUE(s->Submit(Request(12, 3), &forked, std::make_shared<RequestControl>()).ok());
  absl::Status fs = forked.Wait(absl::Seconds(60)).status();
  EXPECT_TRUE(absl::IsResourceExhausted(fs)) << fs;
  EXPECT_EQ(engine_->refused_slots(), 2);
  EXPECT_EQ(engine_->live(), 0);
  EXPECT_EQ(s->Load().kv_reserved, 0);
  // Still serving, with the same answer.
  EXPECT_EQ(RunAtOnce(*s, 2, 12, &refused), 2);
  TestSink pair;
  ASSERT_TRUE(s->Submit(Request(12, 2), &pair, std::make_shared<RequestControl>()).ok());
  ASSERT_TRUE(pair.Wait(absl::Seconds(60)).ok());
  EXPECT_EQ(pair.Text(1), text_);
  EXPECT_EQ(refused, 1);
}

}  // namespace
}  // namespace stocha::server
