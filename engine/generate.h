// One request end to end on an engine: prefill once, fork n samples, decode, stop.
#ifndef STOCHA_ENGINE_GENERATE_H_
#define STOCHA_ENGINE_GENERATE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/sample_stream.h"
#include "engine/sampling/sampler.h"
#include "engine/step_stats.h"
#include "engine/tokenizer.h"

namespace stocha {

struct GenerateRequest {
  std::vector<int> prompt;   // token ids, BOS included if wanted; shorter than the context
  int max_new_tokens = 256;  // capped at context - prompt
  int num_samples = 1;
  SamplingParams sampling;
  std::optional<ActivationSpec> activation;  // default: the model's
  std::vector<std::string> stop_strings;     // never part of the returned text or tokens
  std::vector<int> stop_token_ids;           // in addition to EOS (and BOS, as run.c)
  bool ignore_eos = false;
  int prefill_chunk = 512;  // prompt tokens per Step
};

struct SampleOutput {
  std::vector<int> tokens;             // generated ids (no stop token, no stop string's)
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

// Runs the request to its end; each sample steps through a SampleStream (the server's
// scheduler runs the same per-sample step), so the two agree token for token.
// The engine must be exclusive to this call. `tokenizer` may be null (no text output).
absl::StatusOr<GenerateResult> Generate(Engine& engine, const Tokenizer* tokenizer,
                                        const GenerateRequest& request);

}  // namespace stocha

#endif  // STOCHA_ENGINE_GENERATE_H_
