// How many compute threads the process may really use: affinity mask and cgroup CPU quota.
#ifndef STOCHA_ENGINE_CPU_BUDGET_H_
#define STOCHA_ENGINE_CPU_BUDGET_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace stocha {

// The default compute thread count and where it came from (for the startup log).
struct CpuBudget {
  int threads = 1;
  std::string source;  // e.g. "affinity mask: 8 CPUs; cgroup v2 cpu.max: 2.00 CPUs"
};

// Where the cgroup files are; tests point these at a temporary directory.
struct CpuBudgetPaths {
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string proc_self_cgroup = "/proc/self/cgroup";
};

// CPUs a cgroup v2 `cpu.max` line allows ("200000 100000" -> 2.0); nullopt for "max ..."
// (no limit) or text that does not parse.
std::optional<double> ParseCgroupV2CpuMax(absl::string_view text);

// CPUs cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` allow; nullopt for quota -1.
std::optional<double> ParseCgroupV1Quota(absl::string_view quota, absl::string_view period);

// The smallest CPU quota on the process's cgroup path (v2: each level's cpu.max from the
// process's cgroup up to the root; v1: the cpu controller's directory), nullopt if none.
// `source` gets a description of the limit found.
std::optional<double> CgroupCpuLimit(const CpuBudgetPaths& paths, std::string* source);

// min(CPUs in the affinity mask, cgroup quota rounded down), at least 1. A Kubernetes
// limit of 2.5 CPUs gives 2 threads: a third would be throttled every period.
CpuBudget DetectCpuBudget(int affinity_cpus, const CpuBudgetPaths& paths);

// The process's budget: OMP_NUM_THREADS when set (the OpenMP convention, kept for the
// benchmarks' one-thread runs), else DetectCpuBudget with sched_getaffinity's count.
CpuBudget DefaultCpuBudget();

}  // namespace stocha

#endif  // STOCHA_ENGINE_CPU_BUDGET_H_
