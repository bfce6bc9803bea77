// RequestCounters: a table of atomics and the label names of its two dimensions.
#include "server/request_counters.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"

namespace stocha::server {
namespace {

constexpr char kServicePrefix[] = "/stocha.v1.Stocha/";

constexpr absl::string_view kRpcNames[kNumRpcs] = {
    "Generate",   "GenerateStream", "MultiSample", "Tokenize",
    "Detokenize", "GetModelInfo",   "GetLoad",     "other",
};

}  // namespace

Rpc RpcFromMethod(const char* method) {
  if (method == nullptr) return Rpc::kOther;
  const absl::string_view m(method);
  if (!absl::StartsWith(m, kServicePrefix)) return Rpc::kOther;
  const absl::string_view name = m.substr(std::strlen(kServicePrefix));
  for (int i = 0; i < kNumRpcs - 1; ++i) {
    if (name == kRpcNames[i]) return static_cast<Rpc>(i);
  }
  return Rpc::kOther;
}

absl::string_view RpcName(Rpc rpc) { return kRpcNames[static_cast<int>(rpc)]; }

std::string StatusCodeName(int code) {
  // gRPC's codes are Abseil's, number for number, and spelled the same.
  if (code < 0 || code >= kNumStatusCodes) code = 2;  // UNKNOWN
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

bool IsGeneration(Rpc rpc) {
  return rpc == Rpc::kGenerate || rpc == Rpc::kGenerateStream || rpc == Rpc::kMultiSample;
}

void RequestCounters::Record(Rpc rpc, int code) {
  if (code < 0 || code >= kNumStatusCodes) code = 2;
  counts_[static_cast<int>(rpc)][code].fetch_add(1, std::memory_order_relaxed);
}

uint64_t RequestCounters::Get(Rpc rpc, int code) const {
  if (code < 0 || code >= kNumStatusCodes) return 0;
  return counts_[static_cast<int>(rpc)][code].load(std::memory_order_relaxed);
}

uint64_t RequestCounters::GenerationTotal(int code) const {
  return Get(Rpc::kGenerate, code) + Get(Rpc::kGenerateStream, code) + Get(Rpc::kMultiSample, code);
}

}  // namespace stocha::server
