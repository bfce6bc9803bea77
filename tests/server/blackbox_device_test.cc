// --device on the real stocha-server: the backend it reports, and the clear refusals.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"
#include "tests/server/rpc_helpers.h"
#include "tests/server/server_process.h"

namespace stocha::server::testing {
namespace {

#define REQUIRE_MODEL() \
  if (!HaveTestModel()) STOCHA_FIXTURE_ABSENT("no ../shared/data/stories260K (a user's clone)")

// Starts a server that must stop on its own; returns its exit code and stderr (or the
// start-up error, if it stopped before binding its port).
struct Exit {
  int code = -1;
  std::string log;
};
Exit RunToExit(const std::vector<std::string>& flags) {
  auto p = ServerProcess::Start(flags, /*wait_serving=*/false);
  if (!p.ok()) return Exit{-1, std::string(p.status().message())};
  absl::StatusOr<int> code = (*p)->WaitExit(absl::Seconds(60));
  EXPECT_TRUE(code.ok()) << "the server kept running: " << (*p)->Log();
  return Exit{code.ok() ? *code : -1, (*p)->Log()};
}

TEST(BlackboxDeviceTest, DefaultReportsCpuInModelInfoAndTheMetric) {
  REQUIRE_MODEL();
  auto server = ServerProcess::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::Stocha::NewStub((*server)->channel());
  v1::ModelInfo info;
  ASSERT_TRUE(stub->GetModelInfo(Context().get(), {}, &info).ok());
  EXPECT_EQ(info.backend(), "cpu");
  const std::string metrics = HttpGet((*server)->metrics_port(), "/metrics");
  EXPECT_TRUE(absl::StrContains(metrics, "backend=\"cpu\"")) << metrics.substr(0, 400);
  // The device-memory gauges exist only on a GPU backend.
  EXPECT_FALSE(absl::StrContains(metrics, "stocha_device_memory_used_bytes"));
  // The CPU's KV grows with the positions written; with --kv_cache_mb=0 the budget is the
  // batch's full contexts, not a device's memory.
  EXPECT_TRUE(absl::StrContains((*server)->Log(),
                                "growing reservation (max_batch_size (32) full contexts)"))
      << (*server)->Log();
}

TEST(BlackboxDeviceTest, ExplicitCpuIsTheSame) {
  REQUIRE_MODEL();
  auto server = ServerProcess::Start({"--device=cpu", "--kv_cache_mb=1"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::Stocha::NewStub((*server)->channel());
  v1::ModelInfo info;
  ASSERT_TRUE(stub->GetModelInfo(Context().get(), {}, &info).ok());
  EXPECT_EQ(info.backend(), "cpu");
  // The budget the operator gave, logged with its source.
  EXPECT_TRUE(absl::StrContains((*server)->Log(), "growing reservation (--kv_cache_mb: 1 MiB)"))
      << (*server)->Log();
}

// --cuda_graphs=false has nothing to switch on the CPU: the server serves, and says so.
TEST(BlackboxDeviceTest, CudaGraphsOffOnTheCpuIsIgnoredWithALogLine) {
  REQUIRE_MODEL();
  auto server = ServerProcess::Start({"--device=cpu", "--cuda_graphs=false"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::Stocha::NewStub((*server)->channel());
  v1::ModelInfo info;
  ASSERT_TRUE(stub->GetModelInfo(Context().get(), {}, &info).ok());
  EXPECT_EQ(info.backend(), "cpu");
  EXPECT_TRUE(absl::StrContains(
      (*server)->Log(), "--cuda_graphs=false ignored: --device=cpu launches no CUDA kernels"))
      << (*server)->Log();
}

TEST(BlackboxDeviceTest, UnknownDeviceIsRefusedNamingTheFlag) {
  REQUIRE_MODEL();
  const Exit e = RunToExit({"--device=tpu"});
  EXPECT_NE(e.code, 0);
  EXPECT_TRUE(absl::StrContains(e.log, "--device=tpu: expected cpu, cuda or cuda:N")) << e.log;
}

// This machine has no GPU: a CUDA build says so with the driver's reason, a CPU-only
// build says it was built without CUDA. Either way the server exits non-zero at start.
TEST(BlackboxDeviceTest, CudaWithoutAGpuExitsWithTheReason) {
  REQUIRE_MODEL();
  const Exit e = RunToExit({"--device=cuda"});
  EXPECT_EQ(e.code, 1) << e.log;
  EXPECT_TRUE(absl::StrContains(e.log, "--device=cuda:0: no usable GPU: cudaGetDeviceCount") ||
              absl::StrContains(e.log, "--device=cuda:0: this binary was built without CUDA"))
      << e.log;
}

}  // namespace
}  // namespace stocha::server::testing
