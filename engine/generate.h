// One request end to end on an engine: prefill once, fork n samples, decode, stop.
#ifndef STOCHA_ENGINE_GENERATE_H_
#define STOCHA_ENGINE_GENERATE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "engine/step_stats.h"
#include "engine/tokenizer.h"

namespace stocha {

enum class FinishReason { kLength, kStop, kEos, kCancelled };
const char* FinishReasonName(FinishReason r);

struct GenerateRequest {
  std::vector<int> prompt;  // token ids, BOS included if wanted; not empty
  int max_new_tokens = 256;
  int num_samples = 1;
  SamplingParams sampling;
  std::optional<ActivationSpec> activation;  // default: the model's
  std::vector<std::string> stop_strings;     // never part of the returned text
  std::vector<int> stop_token_ids;           // in addition to EOS (and BOS, as run.c)
  bool ignore_eos = false;
  int prefill_chunk = 512;  // prompt tokens per Step
};

struct SampleOutput {
  std::vector<int> tokens;             // generated ids (the stop token excluded)
  std::string text;                    // decoded, stop string cut
  std::vector<SampleResult> logprobs;  // one per generated token
  FinishReason finish = FinishReason::kLength;
};

struct GenerateResult {
  std::vector<SampleOutput> samples;
  int prompt_tokens = 0;
  int prompt_tokens_computed = 0;  // prompt positions run through the model
  StepStats stats;                 // this request's per-layer counters and seconds
  double prefill_seconds = 0, decode_seconds = 0;
};

// Called after each decode step with (sample index, new text); return false to cancel.
using StreamCallback = std::function<bool(int sample, const std::string& text)>;

// The engine must be exclusive to this call. `tokenizer` may be null (no text output).
absl::StatusOr<GenerateResult> Generate(Engine& engine, const Tokenizer* tokenizer,
                                        const GenerateRequest& request,
                                        const StreamCallback& on_text = nullptr);

}  // namespace stocha

#endif  // STOCHA_ENGINE_GENERATE_H_
