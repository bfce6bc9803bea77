// CUDA graphs for the decode step: DeviceGraph's capture rules, and CudaForward's graph
// replays against its plain launches (the reference) on stories260K, bit for bit.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cuda/cuda_forward.h"
#include "engine/kernels/cuda/device.h"
#include "engine/kernels/cuda/elementwise.h"
#include "engine/kernels/cuda/graph.h"
#include "gtest/gtest.h"
#include "tests/engine/stories260k_model.h"
#include "tests/engine/test_data.h"

namespace stocha::cuda {
namespace {

class NeedsGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (DeviceCount(&why) == 0) GTEST_SKIP() << "no GPU: " << why;
  }
};

using DeviceGraphTest = NeedsGpu;

// A buffer of n floats holding `values`.
DeviceBuffer Upload(const std::vector<float>& values) {
  absl::StatusOr<DeviceBuffer> b = DeviceBuffer::Allocate(4 * static_cast<int64_t>(values.size()));
  EXPECT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->CopyFromHost(values.data(), b->bytes()).ok());
  return std::move(*b);
}

std::vector<float> Download(const DeviceBuffer& b) {
  std::vector<float> v(b.bytes() / 4);
  EXPECT_TRUE(b.CopyToHost(v.data(), b.bytes()).ok());
  return v;
}

// Nothing runs at capture; each Launch runs the captured add once more, reading what the
// buffers hold at that time.
TEST_F(DeviceGraphTest, ReplaysRunTheCapturedLaunchesOnTheBuffersCurrentContents) {
  DeviceBuffer x = Upload({1, 2, 3});
  DeviceBuffer y = Upload({10, 20, 30});
  absl::StatusOr<DeviceGraph> g =
      DeviceGraph::Capture([&] { return AddInPlace(x.as<float>(), y.as<float>(), 3); });
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(Download(x), (std::vector<float>{1, 2, 3}));
  ASSERT_TRUE(g->Launch().ok());
  ASSERT_TRUE(g->Launch().ok());
  EXPECT_EQ(Download(x), (std::vector<float>{21, 42, 63}));
  ASSERT_TRUE(y.CopyFromHost(std::vector<float>{1, 1, 1}.data(), 12).ok());
  ASSERT_TRUE(g->Launch().ok());
  EXPECT_EQ(Download(x), (std::vector<float>{22, 43, 64}));
}

TEST_F(DeviceGraphTest, AnErrorFromTheCallableEndsTheCaptureAndTheStreamStaysUsable) {
  DeviceBuffer x = Upload({1, 2});
  absl::StatusOr<DeviceGraph> g = DeviceGraph::Capture([&]() -> absl::Status {
    EXPECT_TRUE(AddInPlace(x.as<float>(), x.as<float>(), 2).ok());
    return absl::InvalidArgumentError("the callable's own error");
  });
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(g.status().message().find("the callable's own error"), std::string::npos);
  EXPECT_FALSE(StreamIsCapturing());
  // The captured add never ran, and plain work (a synchronous copy) runs again.
  ASSERT_TRUE(AddInPlace(x.as<float>(), x.as<float>(), 2).ok());
  EXPECT_EQ(Download(x), (std::vector<float>{2, 4}));
}

TEST_F(DeviceGraphTest, ACallThatCannotBeCapturedFailsTheCaptureNamingTheCall) {
  DeviceBuffer x = Upload({1, 2});
  absl::StatusOr<DeviceGraph> g = DeviceGraph::Capture([&]() -> absl::Status {
    EXPECT_TRUE(AddInPlace(x.as<float>(), x.as<float>(), 2).ok());
    return Synchronize();  // a device-wide wait is not allowed while capturing
  });
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("cudaDeviceSynchronize"), std::string::npos) << g.status();
  EXPECT_FALSE(StreamIsCapturing());
  ASSERT_TRUE(AddInPlace(x.as<float>(), x.as<float>(), 2).ok());
  EXPECT_EQ(Download(x), (std::vector<float>{2, 4}));
  EXPECT_TRUE(Synchronize().ok());
}

TEST_F(DeviceGraphTest, EventsRecordedInsideTheCaptureTimeEachReplay) {
  absl::StatusOr<DeviceEvents> ev = DeviceEvents::Create(2);
  ASSERT_TRUE(ev.ok());
  std::vector<float> ones(1 << 20, 1.0f);
  DeviceBuffer x = Upload(ones);
  DeviceBuffer y = Upload(ones);
  absl::StatusOr<DeviceGraph> g = DeviceGraph::Capture([&]() -> absl::Status {
    if (absl::Status s = ev->Record(0); !s.ok()) return s;
    for (int i = 0; i < 8; ++i) {
      if (absl::Status s = AddInPlace(x.as<float>(), y.as<float>(), 1 << 20); !s.ok()) return s;
    }
    return ev->Record(1);
  });
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(g->Launch().ok());
  ASSERT_TRUE(Synchronize().ok());
  absl::StatusOr<double> sec = ev->Seconds(0, 1);
  ASSERT_TRUE(sec.ok()) << sec.status();
  EXPECT_GT(*sec, 0.0);
  EXPECT_TRUE(std::isfinite(*sec));
  EXPECT_EQ(Download(x)[12345], 9.0f);
}

// CudaForward on stories260K: the same decode with graphs off (plain launches, the
// reference) and on (captured at the first step of each key, replayed after).
class CudaForwardGraphTest : public NeedsGpu {
 protected:
  void SetUp() override {
    NeedsGpu::SetUp();
    if (IsSkipped()) return;
    STOCHA_REQUIRE_SHARED_DATA();
    absl::StatusOr<std::shared_ptr<const Model>> m = ::stocha::testing::LoadStories260K();
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = *m;
  }

  // One token per sequence per step over `steps` steps from position 0, the rows
  // activations cycling through `acts`; every step's ForwardOutput.
  std::vector<ForwardOutput> Decode(bool graphs, FfnPolicy policy, int batch,
                                    const std::vector<ActivationSpec>& acts, int steps,
                                    CudaForward** keep = nullptr) {
    absl::StatusOr<std::unique_ptr<CudaForward>> f = CudaForward::Create(model_, 128);
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok()) return {};
    (*f)->SetCudaGraphs(graphs);
    (*f)->SetFfnPolicy(policy);
    std::vector<int> caches(batch);
    for (int& c : caches) c = *(*f)->NewCache();
    std::vector<ForwardOutput> outs;
    for (int s = 0; s < steps; ++s) {
      std::vector<TokenRow> rows;
      for (int b = 0; b < batch; ++b) {
        TokenRow r;
        r.token = (37 * s + 11 * b + 1) % model_->config().vocab_size;
        r.cache = caches[b];
        r.position = s;
        r.activation = acts[b % acts.size()];
        r.key = RngKey{static_cast<uint64_t>(100 + b), 0, static_cast<uint32_t>(s), 0};
        r.want_logits = true;
        rows.push_back(r);
      }
      absl::StatusOr<ForwardOutput> out = (*f)->Step(rows);
      EXPECT_TRUE(out.ok()) << out.status();
      if (!out.ok()) return {};
      outs.push_back(*std::move(out));
    }
    if (keep != nullptr) *keep = f->release();
    return outs;
  }

  static void ExpectSameBits(const std::vector<ForwardOutput>& plain,
                             const std::vector<ForwardOutput>& graph, const std::string& what) {
    ASSERT_EQ(plain.size(), graph.size()) << what;
    for (size_t s = 0; s < plain.size(); ++s) {
      EXPECT_FALSE(plain[s].graph) << what;
      EXPECT_TRUE(graph[s].graph) << what << " step " << s;
      ASSERT_EQ(plain[s].logits.size(), graph[s].logits.size());
      for (size_t t = 0; t < plain[s].logits.size(); ++t) {
        const std::vector<float>& a = plain[s].logits[t];
        const std::vector<float>& b = graph[s].logits[t];
        ASSERT_EQ(a.size(), b.size());
        EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0)
            << what << ": logits differ at step " << s << " row " << t;
      }
      EXPECT_EQ(plain[s].zeros, graph[s].zeros) << what << " step " << s;
      EXPECT_EQ(plain[s].union_active, graph[s].union_active) << what << " step " << s;
      EXPECT_EQ(plain[s].sparse, graph[s].sparse) << what;
    }
  }

  std::shared_ptr<const Model> model_;
};

const ActivationSpec kSilu{ActivationKind::kSilu, 0.0f};
const ActivationSpec kRelu{ActivationKind::kRelu, 0.0f};
const ActivationSpec kStochA{ActivationKind::kStochA, 0.5f};

TEST_F(CudaForwardGraphTest, GraphReplaysGiveThePlainLaunchesBits) {
  struct Case {
    int batch;
    std::vector<ActivationSpec> acts;
    FfnPolicy policy;
  };
  const std::vector<Case> cases = {
      {1, {kSilu}, FfnPolicy::kAuto},
      {1, {kStochA}, FfnPolicy::kAuto},
      {1, {kRelu}, FfnPolicy::kDense},
      {3, {kRelu, kStochA, kSilu}, FfnPolicy::kAuto},
      {3, {kRelu, kStochA, kSilu}, FfnPolicy::kDense},
      {5, {kStochA, kRelu}, FfnPolicy::kSparse},
      {16, {kRelu, kStochA, kSilu}, FfnPolicy::kAuto},
  };
  for (const Case& c : cases) {
    const std::string what = "batch " + std::to_string(c.batch) + " policy " +
                             std::to_string(static_cast<int>(c.policy));
    ExpectSameBits(Decode(false, c.policy, c.batch, c.acts, 12),
                   Decode(true, c.policy, c.batch, c.acts, 12), what);
  }
}

TEST_F(CudaForwardGraphTest, PerLayerTimesArePositiveAndFiniteWithGraphs) {
  for (const ForwardOutput& out : Decode(true, FfnPolicy::kAuto, 2, {kRelu, kSilu}, 4)) {
    EXPECT_TRUE(out.graph);
    for (size_t l = 0; l < out.attention_seconds.size(); ++l) {
      EXPECT_GT(out.attention_seconds[l], 0.0) << "layer " << l;
      EXPECT_GT(out.ffn_seconds[l], 0.0) << "layer " << l;
      EXPECT_TRUE(std::isfinite(out.attention_seconds[l]) && std::isfinite(out.ffn_seconds[l]));
    }
  }
}

// Keys and their bound: one graph per (rows, path) seen; larger steps run plain; a policy
// change drops them; off drops them.
TEST_F(CudaForwardGraphTest, GraphsAreKeptPerRowCountAndPathAndDroppedWhenTheKernelsChange) {
  CudaForward* raw = nullptr;
  Decode(true, FfnPolicy::kAuto, 2, {kRelu, kSilu}, 3, &raw);
  std::unique_ptr<CudaForward> f(raw);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->graphs_held(), 1);
  const int cache = *f->NewCache();
  std::vector<TokenRow> prefill;
  for (int p = 0; p < kMaxDeviceBatch; ++p) {
    TokenRow r;
    r.token = p + 1;
    r.cache = cache;
    r.position = p;
    r.activation = kSilu;
    r.want_logits = true;
    prefill.push_back(r);
  }
  absl::StatusOr<ForwardOutput> out = f->Step(prefill);  // 16 rows, dense: a second key
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->graph);
  EXPECT_EQ(f->graphs_held(), 2);
  // The same 16 rows with only the last wanting logits (a prefill piece): the LM head's
  // row count differs from the key's, so plain launches, and no graph is added.
  const int cache2 = *f->NewCache();
  for (TokenRow& r : prefill) {
    r.cache = cache2;
    r.want_logits = r.position == kMaxDeviceBatch - 1;
  }
  out = f->Step(prefill);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->graph);
  EXPECT_EQ(f->graphs_held(), 2);
  f->SetFfnPolicy(FfnPolicy::kDense);
  EXPECT_EQ(f->graphs_held(), 0);
  f->SetFfnPolicy(FfnPolicy::kDense);  // no change: nothing to drop
  f->SetCudaGraphs(false);
  EXPECT_EQ(f->graphs_held(), 0);
  EXPECT_EQ(f->graph_capture_failures(), 0);
}

// A capture that fails inside (a real non-capturable call, injected) is counted; that
// step runs the plain launches, the next step captures again and replays; every step
// gives the plain forward pass's bits.
TEST_F(CudaForwardGraphTest, AFailedCaptureFallsBackToThePlainLaunches) {
  absl::StatusOr<std::unique_ptr<CudaForward>> f = CudaForward::Create(model_, 64);
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<std::unique_ptr<CudaForward>> ref = CudaForward::Create(model_, 64);
  ASSERT_TRUE(ref.ok()) << ref.status();
  (*ref)->SetCudaGraphs(false);
  (*f)->FailNextCaptureForTest();
  const int a = *(*f)->NewCache(), b = *(*ref)->NewCache();
  for (int s = 0; s < 4; ++s) {
    TokenRow r;
    r.token = 5 + s;
    r.position = s;
    r.activation = kRelu;
    r.want_logits = true;
    r.cache = a;
    absl::StatusOr<ForwardOutput> got = (*f)->Step({r});
    r.cache = b;
    absl::StatusOr<ForwardOutput> want = (*ref)->Step({r});
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(want.ok()) << want.status();
    EXPECT_EQ(got->graph, s > 0) << "step " << s;
    EXPECT_EQ(
        std::memcmp(got->logits[0].data(), want->logits[0].data(), want->logits[0].size() * 4), 0)
        << "step " << s;
    EXPECT_EQ(got->zeros, want->zeros);
  }
  EXPECT_EQ((*f)->graph_capture_failures(), 1);
  EXPECT_EQ((*f)->graphs_held(), 1);
}

}  // namespace
}  // namespace stocha::cuda
