// RequestFromProto: every field checked, named in the error, and defaulted.
#include "server/request_from_proto.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/activation.h"
#include "engine/sampling/sampler.h"
#include "server/request_limits.h"

namespace stocha::server {
namespace {

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

absl::Status CheckTokenIds(const google::protobuf::RepeatedField<int32_t>& ids, const char* field,
                           int vocab) {
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return Invalid(absl::StrFormat("%s[%d]: token id %d is outside the vocabulary [0, %d)", field,
                                     i, ids[i], vocab));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int>> Prompt(const v1::GenerateRequest& in, const BatchEngine& engine,
                                        const RequestLimits& limits) {
  const ModelConfig& c = engine.config();
  if (!in.prompt().empty() && in.prompt_token_ids_size() > 0) {
    return Invalid("prompt, prompt_token_ids: set one of them, not both");
  }
  if (in.has_add_bos() && in.prompt_token_ids_size() > 0) {
    return Invalid("add_bos: only for a text prompt (token ids are used verbatim)");
  }
  std::vector<int> ids;
  if (in.prompt_token_ids_size() >= engine.max_context()) {
    return Invalid(absl::StrFormat(
        "prompt_token_ids: %d tokens leave no room to generate in the context of %d positions",
        in.prompt_token_ids_size(), engine.max_context()));
  }
  if (in.prompt_token_ids_size() > 0) {
    if (absl::Status s = CheckTokenIds(in.prompt_token_ids(), "prompt_token_ids", c.vocab_size);
        !s.ok()) {
      return s;
    }
    ids.assign(in.prompt_token_ids().begin(), in.prompt_token_ids().end());
  } else if (!in.prompt().empty()) {
    if (absl::Status s = CheckPromptBytes("prompt", in.prompt(), limits, engine.max_context());
        !s.ok()) {
      return s;
    }
    const Tokenizer* tok = engine.tokenizer();
    if (tok == nullptr) {
      return Invalid("prompt: the model has no tokenizer; send prompt_token_ids");
    }
    absl::StatusOr<std::vector<int>> enc =
        tok->Encode(in.prompt(), in.has_add_bos() ? in.add_bos() : true);
    if (!enc.ok()) {
      return Invalid(absl::StrFormat("prompt: %s", enc.status().message()));
    }
    ids = std::move(*enc);
  }
  if (ids.empty()) {
    ids.push_back(c.bos_token_id);  // start from BOS
  }
  if (static_cast<int>(ids.size()) >= engine.max_context()) {
    return Invalid(absl::StrFormat(
        "prompt: %d tokens leave no room to generate in the context of %d positions", ids.size(),
        engine.max_context()));
  }
  return ids;
}

absl::Status Sampling(const v1::SamplingParams& in, uint64_t default_seed, int vocab,
                      SamplingParams* out) {
  out->temperature = in.has_temperature() ? in.temperature() : 1.0f;
  if (!(out->temperature >= 0.0f) || std::isinf(out->temperature)) {
    return Invalid(absl::StrFormat("sampling.temperature: must be >= 0, got %g", out->temperature));
  }
  out->top_k = in.has_top_k() ? static_cast<int>(std::min<uint32_t>(in.top_k(), vocab)) : 0;
  out->top_p = in.has_top_p() ? in.top_p() : 1.0f;
  if (!(out->top_p > 0.0f && out->top_p <= 1.0f)) {
    return Invalid(absl::StrFormat("sampling.top_p: must be in (0, 1], got %g", out->top_p));
  }
  out->repetition_penalty = in.has_repetition_penalty() ? in.repetition_penalty() : 1.0f;
  if (!(out->repetition_penalty > 0.0f) || std::isinf(out->repetition_penalty)) {
    return Invalid(absl::StrFormat("sampling.repetition_penalty: must be > 0, got %g",
                                   out->repetition_penalty));
  }
  out->frequency_penalty = in.has_frequency_penalty() ? in.frequency_penalty() : 0.0f;
  if (!(out->frequency_penalty >= 0.0f) || std::isinf(out->frequency_penalty)) {
    return Invalid(absl::StrFormat("sampling.frequency_penalty: must be >= 0, got %g",
                                   out->frequency_penalty));
  }
  out->presence_penalty = in.has_presence_penalty() ? in.presence_penalty() : 0.0f;
  if (!(out->presence_penalty >= 0.0f) || std::isinf(out->presence_penalty)) {
    return Invalid(
        absl::StrFormat("sampling.presence_penalty: must be >= 0, got %g", out->presence_penalty));
  }
  out->seed = in.has_seed() ? in.seed() : default_seed;
  return absl::OkStatus();
}

// The wire's Activation through the engine's vocabulary (engine/activation.h): a kind name
// (aliases such as swiglu included) selects the kind; StochA without p takes the training p.
absl::StatusOr<ActivationSpec> Activation(const v1::Activation& in, const ModelConfig& c) {
  ActivationSpec spec = c.DefaultActivation();
  if (!in.kind().empty()) {
    absl::StatusOr<ActivationKind> kind = ParseActivationKind(in.kind());
    if (!kind.ok()) return Invalid(absl::StrCat("activation.kind: ", kind.status().message()));
    spec = ActivationSpec{*kind, *kind == ActivationKind::kStochA ? c.stocha.p : 0.0f};
  }
  if (in.has_p()) {
    if (spec.kind != ActivationKind::kStochA) {
      return Invalid("activation.p: only with activation.kind = stocha");
    }
    if (!(in.p() >= 0.0f && in.p() <= 1.0f)) {
      return Invalid(absl::StrFormat("activation.p: must be in [0, 1], got %g", in.p()));
    }
    spec.p = in.p();
  }
  return spec;
}

absl::Status Stops(const v1::GenerateRequest& in, const RequestLimits& limits, int vocab,
                   GenerationRequest* out) {
  if (in.stop_size() > limits.max_stop_strings) {
    return Invalid(absl::StrFormat("stop: %d strings, the limit is %d", in.stop_size(),
                                   limits.max_stop_strings));
  }
  for (int i = 0; i < in.stop_size(); ++i) {
    const std::string& s = in.stop(i);
    if (s.empty()) {
      return Invalid(absl::StrFormat("stop[%d]: empty string", i));
    }
    if (static_cast<int>(s.size()) > limits.max_stop_string_bytes) {
      return Invalid(absl::StrFormat("stop[%d]: %d bytes, the limit is %d", i, s.size(),
                                     limits.max_stop_string_bytes));
    }
    out->stop_strings.push_back(s);
  }
  if (in.stop_token_ids_size() > limits.max_stop_token_ids) {
    return Invalid(absl::StrFormat("stop_token_ids: %d ids, the limit is %d",
                                   in.stop_token_ids_size(), limits.max_stop_token_ids));
  }
  if (absl::Status s = CheckTokenIds(in.stop_token_ids(), "stop_token_ids", vocab); !s.ok()) {
    return s;
  }
  out->stop_token_ids.assign(in.stop_token_ids().begin(), in.stop_token_ids().end());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GenerationRequest> RequestFromProto(const v1::GenerateRequest& in, RpcKind kind,
                                                   const BatchEngine& engine,
                                                   const RequestLimits& limits, absl::Time deadline,
                                                   uint64_t default_seed) {
  const ModelConfig& c = engine.config();
  GenerationRequest r;
  r.request_id = in.request_id();
  r.deadline = deadline;
  if (absl::Status s = CheckRequestId(in.request_id(), limits); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<int>> prompt = Prompt(in, engine, limits);
  if (!prompt.ok()) {
    return prompt.status();
  }
  r.prompt = std::move(*prompt);

  const int room = engine.max_context() - static_cast<int>(r.prompt.size());
  if (in.has_max_new_tokens()) {
    if (in.max_new_tokens() > static_cast<uint32_t>(limits.max_new_tokens)) {
      return Invalid(absl::StrFormat("max_new_tokens: %d is above the limit of %d",
                                     in.max_new_tokens(), limits.max_new_tokens));
    }
    r.max_new_tokens = static_cast<int>(in.max_new_tokens());
  } else {
    r.max_new_tokens = limits.default_max_new_tokens;
  }
  r.max_new_tokens = std::min(r.max_new_tokens, room);  // finish_reason LENGTH at the end

  if (absl::Status s = Stops(in, limits, c.vocab_size, &r); !s.ok()) {
    return s;
  }
  r.ignore_eos = in.ignore_eos();
  if (absl::Status s = Sampling(in.sampling(), default_seed, c.vocab_size, &r.sampling); !s.ok()) {
    return s;
  }
  if (in.has_logprobs()) {
    if (in.logprobs() > static_cast<uint32_t>(kMaxTopLogprobs)) {
      return Invalid(absl::StrFormat("logprobs: %d alternatives, the limit is %d", in.logprobs(),
                                     kMaxTopLogprobs));
    }
    r.logprobs = true;
    r.sampling.top_logprobs = static_cast<int>(in.logprobs());
  }
  if (absl::Status s = ValidateSamplingParams(r.sampling); !s.ok()) {
    return Invalid(absl::StrFormat("sampling: %s", s.message()));
  }
  absl::StatusOr<ActivationSpec> act = Activation(in.activation(), c);
  if (!act.ok()) {
    return act.status();
  }
  r.activation = *act;

  // Compared as sent (uint32): a clamped copy would show the client a number it never sent.
  const uint32_t n = in.has_n() ? in.n() : 1;
  if (n < 1) {
    return Invalid("n: must be >= 1");
  }
  if (kind == RpcKind::kGenerateStream && n > 1) {
    return Invalid("n: GenerateStream returns one sample; use MultiSample for n > 1");
  }
  if (n > static_cast<uint32_t>(limits.max_n)) {
    return Invalid(absl::StrFormat("n: %d samples, the limit is %d", n, limits.max_n));
  }
  r.n = static_cast<int>(n);
  return r;
}

}  // namespace stocha::server
