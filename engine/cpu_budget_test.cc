// The cgroup CPU quota parsing and the budget, on files written to a temporary directory.
#include "engine/cpu_budget.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace stocha {
namespace {

namespace fs = std::filesystem;

class CpuBudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            ("cpu_budget_" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "cg");
    paths_.cgroup_root = (root_ / "cg").string();
    paths_.proc_self_cgroup = (root_ / "self_cgroup").string();
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const fs::path& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  fs::path root_;
  CpuBudgetPaths paths_;
};

TEST(CgroupParseTest, V2CpuMax) {
  EXPECT_EQ(ParseCgroupV2CpuMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupV2CpuMax("200000 100000\n"), 2.0);
  EXPECT_EQ(ParseCgroupV2CpuMax("250000 100000"), 2.5);
  EXPECT_EQ(ParseCgroupV2CpuMax("50000"), 0.5);  // period defaults to 100000
  EXPECT_EQ(ParseCgroupV2CpuMax(""), std::nullopt);
  EXPECT_EQ(ParseCgroupV2CpuMax("lots 100000"), std::nullopt);
}

TEST(CgroupParseTest, V1Quota) {
  EXPECT_EQ(ParseCgroupV1Quota("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupV1Quota("300000\n", "100000\n"), 3.0);
  EXPECT_EQ(ParseCgroupV1Quota("150000", "100000"), 1.5);
  EXPECT_EQ(ParseCgroupV1Quota("100000", "0"), std::nullopt);
}

TEST_F(CpuBudgetTest, NoQuotaUsesAffinity) {
  Write("cg/cpu.max", "max 100000\n");
  Write("self_cgroup", "0::/\n");
  const CpuBudget b = DetectCpuBudget(6, paths_);
  EXPECT_EQ(b.threads, 6);
  EXPECT_NE(b.source.find("no cgroup CPU quota"), std::string::npos) << b.source;
}

TEST_F(CpuBudgetTest, V2QuotaRoundsDown) {
  Write("cg/cpu.max", "250000 100000\n");
  Write("self_cgroup", "0::/\n");
  EXPECT_EQ(DetectCpuBudget(8, paths_).threads, 2);
  EXPECT_EQ(DetectCpuBudget(1, paths_).threads, 1);  // affinity is smaller
}

TEST_F(CpuBudgetTest, V2TightestLevelOnThePathWins) {
  Write("self_cgroup", "0::/kubepods/pod1/c1\n");
  Write("cg/cpu.max", "max 100000\n");
  Write("cg/kubepods/pod1/cpu.max", "300000 100000\n");
  Write("cg/kubepods/pod1/c1/cpu.max", "max 100000\n");
  const CpuBudget b = DetectCpuBudget(16, paths_);
  EXPECT_EQ(b.threads, 3);
  EXPECT_NE(b.source.find("pod1/cpu.max"), std::string::npos) << b.source;
}

TEST_F(CpuBudgetTest, QuotaBelowOneCpuGivesOneThread) {
  Write("cg/cpu.max", "50000 100000\n");
  Write("self_cgroup", "0::/\n");
  EXPECT_EQ(DetectCpuBudget(4, paths_).threads, 1);
}

TEST_F(CpuBudgetTest, V1Files) {
  Write("self_cgroup", "4:memory:/x\n1:cpu:/\n");
  Write("cg/cpu,cpuacct/cpu.cfs_quota_us", "200000\n");
  Write("cg/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(DetectCpuBudget(8, paths_).threads, 2);
}

TEST_F(CpuBudgetTest, V1Unlimited) {
  Write("cg/cpu/cpu.cfs_quota_us", "-1\n");
  Write("cg/cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(DetectCpuBudget(5, paths_).threads, 5);
}

TEST(DefaultCpuBudgetTest, AtLeastOneThreadWithASource) {
  const CpuBudget b = DefaultCpuBudget();
  EXPECT_GE(b.threads, 1);
  EXPECT_FALSE(b.source.empty());
}

}  // namespace
}  // namespace stocha
