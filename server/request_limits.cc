// Request field limits: every refusal names the field, the size and the flag that sets it.
#include "server/request_limits.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace stocha::server {

int64_t PromptByteLimit(const RequestLimits& limits, int max_context) {
  if (limits.max_prompt_bytes > 0) {
    return limits.max_prompt_bytes;
  }
  return std::min(kPromptBytesPerPosition * static_cast<int64_t>(max_context),
                  limits.max_request_bytes - kRequestOverheadBytes);
}

absl::Status CheckPromptBytes(const char* field, absl::string_view text,
                              const RequestLimits& limits, int max_context) {
  const int64_t limit = PromptByteLimit(limits, max_context);
  if (static_cast<int64_t>(text.size()) <= limit) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: %d bytes, the limit is %d (--max_prompt_bytes)", field, text.size(), limit));
}

absl::Status CheckRequestId(absl::string_view id, const RequestLimits& limits) {
  if (static_cast<int64_t>(id.size()) > limits.max_request_id_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat("request_id: %d bytes, the limit is %d",
                                                      id.size(), limits.max_request_id_bytes));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrFormat("request_id: byte %d (0x%02x) is not printable ASCII", i, c));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTokenizeRequest(const v1::TokenizeRequest& in, const RequestLimits& limits,
                                  int max_context) {
  return CheckPromptBytes("text", in.text(), limits, max_context);
}

absl::Status CheckDetokenizeRequest(const v1::DetokenizeRequest& in, int max_context) {
  if (in.token_ids_size() > max_context) {
    return absl::InvalidArgumentError(
        absl::StrFormat("token_ids: %d ids, the limit is one context (%d, --max_context)",
                        in.token_ids_size(), max_context));
  }
  return absl::OkStatus();
}

}  // namespace stocha::server
