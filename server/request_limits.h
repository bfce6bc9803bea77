// Byte, count and character limits on request fields, checked before any costly work.
#ifndef STOCHA_SERVER_REQUEST_LIMITS_H_
#define STOCHA_SERVER_REQUEST_LIMITS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/request_from_proto.h"
#include "stocha/v1/stocha.pb.h"

namespace stocha::server {

// The default prompt byte limit per context position: Llama tokenizers average about 4
// bytes a token on English, so a prompt 4x above that cannot fit the context anyway.
inline constexpr int64_t kPromptBytesPerPosition = 16;
// Room a request needs beside its prompt (stop strings, request id, sampling fields).
inline constexpr int64_t kRequestOverheadBytes = 64 << 10;

// limits.max_prompt_bytes, or kPromptBytesPerPosition per position of `max_context` (at
// most what fits a request of max_request_bytes).
int64_t PromptByteLimit(const RequestLimits& limits, int max_context);

// INVALID_ARGUMENT "<field>: N bytes, the limit is M (--max_prompt_bytes)" when `text` is
// longer than PromptByteLimit.
absl::Status CheckPromptBytes(const char* field, absl::string_view text,
                              const RequestLimits& limits, int max_context);

// request_id: at most max_request_id_bytes of printable ASCII (it goes into logs).
absl::Status CheckRequestId(absl::string_view id, const RequestLimits& limits);

// Tokenize.text as a prompt; Detokenize.token_ids at most one context of ids.
absl::Status CheckTokenizeRequest(const v1::TokenizeRequest& in, const RequestLimits& limits,
                                  int max_context);
absl::Status CheckDetokenizeRequest(const v1::DetokenizeRequest& in, int max_context);

}  // namespace stocha::server

#endif  // STOCHA_SERVER_REQUEST_LIMITS_H_
