// Every finished call counted once, by RPC and final status code: the one source of request
// outcomes for GetLoad and for the metrics (no gRPC here; codes are gRPC's numbers).
#ifndef STOCHA_SERVER_REQUEST_COUNTERS_H_
#define STOCHA_SERVER_REQUEST_COUNTERS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace stocha::server {

// The label values of the `rpc` dimension: the service's methods, then everything else
// (health, reflection, unknown methods) as one value, so the set stays bounded.
enum class Rpc : int {
  kGenerate,
  kGenerateStream,
  kMultiSample,
  kTokenize,
  kDetokenize,
  kGetModelInfo,
  kGetLoad,
  kOther,
};
inline constexpr int kNumRpcs = static_cast<int>(Rpc::kOther) + 1;
inline constexpr int kNumStatusCodes = 17;  // gRPC's OK (0) .. UNAUTHENTICATED (16)

// "/stocha.v1.Stocha/Generate" -> kGenerate; anything else (or null) -> kOther.
Rpc RpcFromMethod(const char* method);
absl::string_view RpcName(Rpc rpc);    // "Generate", ..., "other"
std::string StatusCodeName(int code);  // "OK", "CANCELLED", ... (gRPC's spelling)
// Generate, GenerateStream and MultiSample: the calls GetLoad's request_* fields sum.
bool IsGeneration(Rpc rpc);

// Thread-safety: Record and Get may be called concurrently from any thread (relaxed
// atomics: each count is exact, a reader may see one call counted and a later one not yet).
class RequestCounters {
 public:
  // Counts one finished call; a code outside 0..16 counts as UNKNOWN (2).
  void Record(Rpc rpc, int code);
  uint64_t Get(Rpc rpc, int code) const;
  // Over the generation RPCs.
  uint64_t GenerationTotal(int code) const;

 private:
  std::array<std::array<std::atomic<uint64_t>, kNumStatusCodes>, kNumRpcs> counts_{};
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_REQUEST_COUNTERS_H_
