// Device parsing, and what Engine::Create says for a device this build or machine cannot run.
#include "engine/device.h"

#include <iostream>
#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/engine/stories260k_model.h"
#include "tests/engine/test_data.h"

namespace stocha {
namespace {

std::shared_ptr<const Model> LoadStories260K() {
  absl::StatusOr<std::shared_ptr<const Model>> m = ::stocha::testing::LoadStories260K();
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

TEST(DeviceTest, ParsesCpuCudaAndOrdinals) {
  struct Case {
    const char* text;
    Device want;
  };
  for (const Case& c :
       {Case{"cpu", {Device::Kind::kCpu, 0}}, Case{"CPU", {Device::Kind::kCpu, 0}},
        Case{"cuda", {Device::Kind::kCuda, 0}}, Case{"cuda:0", {Device::Kind::kCuda, 0}},
        Case{"cuda:3", {Device::Kind::kCuda, 3}}, Case{" Cuda:12 ", {Device::Kind::kCuda, 12}}}) {
    absl::StatusOr<Device> d = Device::Parse(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status();
    EXPECT_EQ(*d, c.want) << c.text;
  }
  EXPECT_EQ(Device::Parse("cuda:7")->ToString(), "cuda:7");
  EXPECT_EQ(Device::Parse("cpu")->ToString(), "cpu");
  EXPECT_EQ(Device::Parse("cuda")->ToString(), "cuda:0");
}

TEST(DeviceTest, RefusesAnythingElseNamingTheFlagAndValue) {
  for (const char* bad : {"", "tpu", "gpu", "cuda:", "cuda:-1", "cuda:+1", "cuda: 1", "cuda:1x",
                          "cuda:99999", "cpu:0", "cuda0", "cuda:0:1"}) {
    absl::StatusOr<Device> d = Device::Parse(bad, "--device");
    ASSERT_FALSE(d.ok()) << "'" << bad << "' was accepted";
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(d.status().message().find(std::string("--device=") + bad), std::string::npos)
        << d.status();
  }
  absl::StatusOr<Device> d = Device::Parse("tpu", "EngineOptions.device");
  EXPECT_NE(d.status().message().find("EngineOptions.device=tpu"), std::string::npos) << d.status();
}

// --cuda_graphs=false on the CPU is ignored with a line for the log; everywhere else
// there is nothing to say (the GPU takes it, and the default says nothing on the CPU).
TEST(DeviceTest, CudaGraphsOffIsNotedOnlyOnTheCpu) {
  const Device cpu = *Device::Parse("cpu");
  const Device gpu = *Device::Parse("cuda:1");
  EXPECT_EQ(CudaGraphsIgnoredNote(cpu, true), "");
  EXPECT_EQ(CudaGraphsIgnoredNote(gpu, true), "");
  EXPECT_EQ(CudaGraphsIgnoredNote(gpu, false), "");
  const std::string note = CudaGraphsIgnoredNote(cpu, false);
  EXPECT_NE(note.find("--cuda_graphs=false ignored"), std::string::npos) << note;
  EXPECT_NE(note.find("--device=cpu"), std::string::npos) << note;
}

// --device=cuda on this machine: a build without CUDA says so (Unimplemented); a CUDA
// build with no GPU gives the driver's reason (FailedPrecondition); on a GPU machine the
// engine comes up and says which GPU it runs on.
TEST(DeviceTest, EngineOnCudaIsAClearErrorOrRunsOnTheGpu) {
  STOCHA_REQUIRE_SHARED_DATA();
  std::shared_ptr<const Model> model = LoadStories260K();
  ASSERT_NE(model, nullptr);
  EngineOptions o;
  o.device = *Device::Parse("cuda");
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(model, o);
  if (!BuiltWithCuda()) {
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().code(), absl::StatusCode::kUnimplemented) << e.status();
    EXPECT_NE(e.status().message().find("-DSTOCHA_CUDA=ON"), std::string::npos) << e.status();
    return;
  }
  if (e.ok()) {
    std::cout << "a GPU is present: " << (*e)->backend() << "\n";
    EXPECT_EQ((*e)->backend().rfind("cuda:0 ", 0), 0u) << (*e)->backend();
    EXPECT_TRUE((*e)->DeviceMemory().has_value());
    return;
  }
  std::cout << "no GPU here: " << e.status() << "\n";
  EXPECT_EQ(e.status().code(), absl::StatusCode::kFailedPrecondition) << e.status();
  EXPECT_NE(e.status().message().find("--device=cuda:0: no usable GPU: cudaGetDeviceCount"),
            std::string::npos)
      << e.status();
}

TEST(DeviceTest, CpuEngineReportsCpuAndNoDeviceMemory) {
  STOCHA_REQUIRE_SHARED_DATA();
  std::shared_ptr<const Model> model = LoadStories260K();
  ASSERT_NE(model, nullptr);
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(model);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)->backend(), "cpu");
  EXPECT_FALSE((*e)->DeviceMemory().has_value());
}

}  // namespace
}  // namespace stocha
