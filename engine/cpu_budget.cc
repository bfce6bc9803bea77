// Reads the affinity mask and the cgroup (v2 or v1) CPU quota.
#include "engine/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace stocha {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<double> Ratio(absl::string_view q, absl::string_view p) {
  int64_t quota = 0, period = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(q), &quota) ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(p), &period) || quota <= 0 || period <= 0) {
    return std::nullopt;
  }
  return static_cast<double>(quota) / static_cast<double>(period);
}

// The v2 path of this process ("0::/kubepods/pod1/c1" -> "/kubepods/pod1/c1"), or "".
std::string V2CgroupPath(const std::string& proc_self_cgroup) {
  const std::optional<std::string> text = ReadFile(proc_self_cgroup);
  if (!text) return "";
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (absl::ConsumePrefix(&line, "0::")) return std::string(line);
  }
  return "";
}

}  // namespace

std::optional<double> ParseCgroupV2CpuMax(absl::string_view text) {
  std::vector<absl::string_view> f =
      absl::StrSplit(absl::StripAsciiWhitespace(text), ' ', absl::SkipEmpty());
  if (f.empty() || f[0] == "max") return std::nullopt;
  return Ratio(f[0], f.size() > 1 ? f[1] : "100000");  // the period defaults to 100 ms
}

std::optional<double> ParseCgroupV1Quota(absl::string_view quota, absl::string_view period) {
  return Ratio(quota, period);
}

std::optional<double> CgroupCpuLimit(const CpuBudgetPaths& paths, std::string* source) {
  std::optional<double> limit;
  // v2: every level from the process's cgroup up to the root (a parent's limit binds too).
  // Inside a container's cgroup namespace the path is "/" and the root is its own cgroup.
  std::string dir = V2CgroupPath(paths.proc_self_cgroup);
  for (;;) {
    const std::string file =
        absl::StrCat(paths.cgroup_root, dir == "/" ? absl::string_view() : dir, "/cpu.max");
    if (const std::optional<std::string> text = ReadFile(file)) {
      const std::optional<double> cpus = ParseCgroupV2CpuMax(*text);
      if (cpus && (!limit || *cpus < *limit)) {
        limit = cpus;
        *source = absl::StrFormat("cgroup v2 %s: %.2f CPUs", file, *cpus);
      }
    }
    if (dir.empty() || dir == "/") break;
    const size_t cut = dir.rfind('/');
    if (cut == 0 || cut == std::string::npos) {
      dir = "/";
    } else {
      dir.erase(cut);
    }
  }
  if (limit) return limit;
  // v1: the cpu controller's directory (mounted as cpu or cpu,cpuacct).
  for (const char* sub : {"/cpu", "/cpu,cpuacct", "/cpuacct,cpu"}) {
    const std::string d = absl::StrCat(paths.cgroup_root, sub);
    const std::optional<std::string> q = ReadFile(absl::StrCat(d, "/cpu.cfs_quota_us"));
    const std::optional<std::string> p = ReadFile(absl::StrCat(d, "/cpu.cfs_period_us"));
    if (!q || !p) continue;
    if (const std::optional<double> cpus = ParseCgroupV1Quota(*q, *p)) {
      *source = absl::StrFormat("cgroup v1 %s/cpu.cfs_quota_us: %.2f CPUs", d, *cpus);
      return cpus;
    }
  }
  return std::nullopt;
}

CpuBudget DetectCpuBudget(int affinity_cpus, const CpuBudgetPaths& paths) {
  CpuBudget b;
  b.threads = std::max(affinity_cpus, 1);
  b.source = absl::StrFormat("affinity mask: %d CPUs", affinity_cpus);
  std::string quota_source;
  if (const std::optional<double> cpus = CgroupCpuLimit(paths, &quota_source)) {
    absl::StrAppend(&b.source, "; ", quota_source);
    b.threads = std::max(1, std::min(b.threads, static_cast<int>(std::floor(*cpus))));
  } else {
    b.source += "; no cgroup CPU quota";
  }
  return b;
}

CpuBudget DefaultCpuBudget() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    int n = 0;
    if (absl::SimpleAtoi(env, &n) && n > 0) return {n, absl::StrFormat("OMP_NUM_THREADS=%d", n)};
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  const int affinity = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  return DetectCpuBudget(affinity, CpuBudgetPaths{});
}

}  // namespace stocha
