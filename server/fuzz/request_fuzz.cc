// libFuzzer target: random and mutated stocha.v1 requests through the service's parsing and
// validation (Parsed<> deserialization, RequestFromProto, the Tokenize/Detokenize limits).
//
// Half of the inputs are raw wire bytes (what a hostile client sends); the other half
// build a GenerateRequest field by field from the input, so that every field takes valid,
// boundary and absurd values far more often than random bytes would reach. Any crash,
// sanitizer report or broken invariant (a refusal that is not INVALID_ARGUMENT naming a
// field, an accepted request outside the limits) is a finding.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <limits>
#include <string>

#include "server/raw_rpc.h"
#include "server/request_from_proto.h"
#include "server/request_limits.h"
#include "stocha/v1/stocha.pb.h"
#include "tests/server/fake_engine.h"

namespace stocha::server {
namespace {

using testing::FakeEngine;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// A number that is often a boundary: 0, 1, the limit, limit + 1, the type's maximum.
uint32_t Count(FuzzedDataProvider& in, uint32_t limit) {
  switch (in.ConsumeIntegralInRange(0, 5)) {
    case 0:
      return 0;
    case 1:
      return limit;
    case 2:
      return limit + 1;
    case 3:
      return std::numeric_limits<uint32_t>::max();
    default:
      return in.ConsumeIntegralInRange<uint32_t>(0, 2 * limit + 2);
  }
}

float Float(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 4)) {
    case 0:
      return std::numeric_limits<float>::quiet_NaN();
    case 1:
      return std::numeric_limits<float>::infinity();
    case 2:
      return -0.0f;
    default:
      return in.ConsumeFloatingPointInRange<float>(-2.0f, 3.0f);
  }
}

std::string Text(FuzzedDataProvider& in, size_t max) { return in.ConsumeRandomLengthString(max); }

void Ids(FuzzedDataProvider& in, google::protobuf::RepeatedField<int32_t>* out, uint32_t limit) {
  const uint32_t n = std::min<uint32_t>(Count(in, limit), 4096);
  for (uint32_t i = 0; i < n && in.remaining_bytes() > 0; ++i) {
    out->Add(in.ConsumeIntegralInRange<int32_t>(-2, FakeEngine::kVocab + 1));
  }
}

v1::GenerateRequest Build(FuzzedDataProvider& in, const RequestLimits& limits) {
  v1::GenerateRequest r;
  if (in.ConsumeBool()) r.set_prompt(Text(in, 600));
  if (in.ConsumeBool()) Ids(in, r.mutable_prompt_token_ids(), 64);
  if (in.ConsumeBool()) r.set_max_new_tokens(Count(in, limits.max_new_tokens));
  for (uint32_t i = std::min<uint32_t>(Count(in, limits.max_stop_strings), 32); i > 0; --i) {
    r.add_stop(Text(in, limits.max_stop_string_bytes + 2));
  }
  if (in.ConsumeBool()) Ids(in, r.mutable_stop_token_ids(), limits.max_stop_token_ids);
  v1::SamplingParams* s = r.mutable_sampling();
  if (in.ConsumeBool()) s->set_temperature(Float(in));
  if (in.ConsumeBool()) s->set_top_k(Count(in, FakeEngine::kVocab));
  if (in.ConsumeBool()) s->set_top_p(Float(in));
  if (in.ConsumeBool()) s->set_repetition_penalty(Float(in));
  if (in.ConsumeBool()) s->set_frequency_penalty(Float(in));
  if (in.ConsumeBool()) s->set_presence_penalty(Float(in));
  if (in.ConsumeBool()) s->set_seed(in.ConsumeIntegral<uint64_t>());
  if (in.ConsumeBool()) {
    const char* kinds[] = {"", "silu", "relu", "stocha", "STOCHA", "gelu"};
    r.mutable_activation()->set_kind(kinds[in.ConsumeIntegralInRange(0, 5)]);
    if (in.ConsumeBool()) r.mutable_activation()->set_p(Float(in));
  }
  if (in.ConsumeBool()) r.set_n(Count(in, limits.max_n));
  if (in.ConsumeBool()) r.set_logprobs(Count(in, 20));
  if (in.ConsumeBool()) r.set_request_id(Text(in, limits.max_request_id_bytes + 2));
  if (in.ConsumeBool()) r.set_add_bos(in.ConsumeBool());
  if (in.ConsumeBool()) r.set_ignore_eos(in.ConsumeBool());
  return r;
}

// An accepted request is inside every limit; a refused one names its field.
void CheckOutcome(const absl::StatusOr<GenerationRequest>& out, const RequestLimits& limits,
                  int max_context, RpcKind kind) {
  if (!out.ok()) {
    Check(absl::IsInvalidArgument(out.status()));
    Check(out.status().message().find(':') != absl::string_view::npos);
    return;
  }
  const GenerationRequest& r = *out;
  Check(!r.prompt.empty() && static_cast<int>(r.prompt.size()) < max_context);
  Check(r.max_new_tokens >= 0 && r.max_new_tokens <= limits.max_new_tokens);
  Check(static_cast<int>(r.prompt.size()) + r.max_new_tokens <= max_context);
  Check(r.n >= 1 && r.n <= limits.max_n && (kind != RpcKind::kGenerateStream || r.n == 1));
  Check(static_cast<int>(r.stop_strings.size()) <= limits.max_stop_strings);
  Check(static_cast<int>(r.stop_token_ids.size()) <= limits.max_stop_token_ids);
  Check(static_cast<int>(r.request_id.size()) <= limits.max_request_id_bytes);
  for (int id : r.prompt) Check(id >= 0 && id < FakeEngine::kVocab);
  Check(r.sampling.temperature >= 0.0f && r.sampling.top_p > 0.0f && r.sampling.top_p <= 1.0f);
}

int FuzzOne(const uint8_t* data, size_t size) {
  static const auto* engine = new FakeEngine(/*max_context=*/64);
  FuzzedDataProvider in(data, size);
  RequestLimits limits;
  limits.max_prompt_bytes = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<int64_t>(1, 700);
  const RpcKind kind = static_cast<RpcKind>(in.ConsumeIntegralInRange(0, 2));
  const int which = in.ConsumeIntegralInRange(0, 3);
  v1::GenerateRequest request;
  if (which == 0) {
    // Raw bytes as a hostile client sends them, through the service's own deserializer.
    const std::string bytes = in.ConsumeRemainingBytesAsString();
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    Parsed<v1::GenerateRequest> parsed;
    Check(
        grpc::SerializationTraits<Parsed<v1::GenerateRequest>>::Deserialize(&buffer, &parsed).ok());
    if (!parsed.status.ok()) {
      Check(parsed.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      return 0;
    }
    request = std::move(parsed.message);
  } else if (which == 1) {
    v1::TokenizeRequest t;
    t.set_text(in.ConsumeRemainingBytesAsString());
    const absl::Status s = CheckTokenizeRequest(t, limits, engine->max_context());
    Check(s.ok() == (static_cast<int64_t>(t.text().size()) <=
                     PromptByteLimit(limits, engine->max_context())));
    return 0;
  } else if (which == 2) {
    v1::DetokenizeRequest d;
    Ids(in, d.mutable_token_ids(), 64);
    const absl::Status s = CheckDetokenizeRequest(d, engine->max_context());
    Check(s.ok() == (d.token_ids_size() <= engine->max_context()));
    return 0;
  } else {
    request = Build(in, limits);
  }
  const auto out = RequestFromProto(request, kind, *engine, limits, absl::InfiniteFuture(), 7);
  CheckOutcome(out, limits, engine->max_context(), kind);
  return 0;
}

}  // namespace
}  // namespace stocha::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return stocha::server::FuzzOne(data, size);
}
