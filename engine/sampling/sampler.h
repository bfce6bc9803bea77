// Next-token selection: penalties, temperature, top-k, top-p, and log-probabilities.
#ifndef STOCHA_ENGINE_SAMPLING_SAMPLER_H_
#define STOCHA_ENGINE_SAMPLING_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/rng.h"

namespace stocha {

inline constexpr int kMaxTopLogprobs = 20;

struct SamplingParams {
  float temperature = 1.0f;         // 0 = greedy (first index of the maximum)
  int top_k = 0;                    // 0 = off
  float top_p = 1.0f;               // in (0, 1]; 1 = off
  float repetition_penalty = 1.0f;  // >= 1 (well, > 0): logit / rp if > 0 else logit * rp,
                                    // for every token in prompt + generated (HF/CTRL)
  float frequency_penalty = 0.0f;   // logit -= fp * count in generated (OpenAI)
  float presence_penalty = 0.0f;    // logit -= pp if it occurred in generated (OpenAI)
  uint64_t seed = 0;
  int top_logprobs = 0;  // alternatives to report, 0..kMaxTopLogprobs
};

// InvalidArgument naming the field for out-of-range values.
absl::Status ValidateSamplingParams(const SamplingParams& params);

struct TokenLogprob {
  int token = 0;
  float logprob = 0.0f;
};

struct SampleResult {
  int token = 0;
  float logprob = 0.0f;           // log-softmax of the raw logits (model distribution)
  std::vector<TokenLogprob> top;  // the top_logprobs most likely tokens, same measure
};

// Picks the next token. `history` = prompt + generated tokens (repetition penalty);
// `generated` = generated tokens only (frequency/presence penalties). The draw is the
// uniform of `key` (seed, sample index, position, kSamplerStream): a pure function.
SampleResult Sample(const SamplingParams& params, absl::Span<const float> logits,
                    absl::Span<const int> history, absl::Span<const int> generated,
                    const RngKey& key);

}  // namespace stocha

#endif  // STOCHA_ENGINE_SAMPLING_SAMPLER_H_
