// Turns a stocha.v1.GenerateRequest into a validated GenerationRequest.
#ifndef STOCHA_SERVER_REQUEST_FROM_PROTO_H_
#define STOCHA_SERVER_REQUEST_FROM_PROTO_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/batch_engine.h"
#include "server/request.h"
#include "stocha/v1/stocha.pb.h"

namespace stocha::server {

// Per-request limits the service enforces (defaults documented in docs/API.md).
struct RequestLimits {
  int max_new_tokens = 1024;
  int default_max_new_tokens = 64;
  int max_n = 16;
  int max_stop_strings = 8;
  int max_stop_string_bytes = 256;
  int max_stop_token_ids = 64;
  int max_request_id_bytes = 128;
  // Text a request may ask to tokenize (prompt, Tokenize.text), checked before tokenizing;
  // 0: kPromptBytesPerPosition per context position (see PromptByteLimit).
  int64_t max_prompt_bytes = 0;
  // The largest request message gRPC accepts (larger: RESOURCE_EXHAUSTED before parsing).
  int64_t max_request_bytes = 4 << 20;
};

enum class RpcKind { kGenerate, kGenerateStream, kMultiSample };

// Validates `in` and resolves every default. Errors are INVALID_ARGUMENT and start with
// the offending field's name (e.g. "sampling.top_p: ..."). `default_seed` is used when the
// request has none.
absl::StatusOr<GenerationRequest> RequestFromProto(const v1::GenerateRequest& in, RpcKind kind,
                                                   const BatchEngine& engine,
                                                   const RequestLimits& limits, absl::Time deadline,
                                                   uint64_t default_seed);

}  // namespace stocha::server

#endif  // STOCHA_SERVER_REQUEST_FROM_PROTO_H_
