// Generate(): one request on an exclusive engine (stocha-generate, golden tests).
#include "engine/generate.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"

namespace stocha {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status ValidateRequest(const Engine& engine, const GenerateRequest& r) {
  if (r.prompt.empty()) return absl::InvalidArgumentError("prompt: no tokens (add BOS)");
  if (r.max_new_tokens < 0) return absl::InvalidArgumentError("max_new_tokens must be >= 0");
  if (r.num_samples < 1) return absl::InvalidArgumentError("num_samples must be >= 1");
  if (r.prefill_chunk < 1) return absl::InvalidArgumentError("prefill_chunk must be >= 1");
  if (static_cast<int>(r.prompt.size()) >= engine.max_context()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("prompt: %d tokens leave no room to generate in the context of %d",
                        r.prompt.size(), engine.max_context()));
  }
  return ValidateSamplingParams(r.sampling);
}

}  // namespace

absl::StatusOr<GenerateResult> Generate(Engine& engine, const Tokenizer* tokenizer,
                                        const GenerateRequest& r) {
  if (absl::Status s = ValidateRequest(engine, r); !s.ok()) return s;
  GenerateResult result;
  result.prompt_tokens = static_cast<int>(r.prompt.size());
  SampleRules rules;
  rules.sampling = r.sampling;
  rules.max_new_tokens = std::min(r.max_new_tokens, engine.max_context() - result.prompt_tokens);
  rules.stop_strings = r.stop_strings;
  rules.stop_token_ids = r.stop_token_ids;
  rules.ignore_eos = r.ignore_eos;
  rules.eos_ids = EndOfSequenceIds(engine.model().config(), tokenizer);

  absl::StatusOr<SequenceId> root =
      engine.AddSequence(SequenceOptions{r.activation, r.sampling.seed, 0});
  if (!root.ok()) return root.status();
  std::vector<SequenceId> seqs = {*root};
  absl::Cleanup remove_all = [&] {
    for (SequenceId s : seqs) (void)engine.RemoveSequence(s);
  };

  // Prefill once, in chunks; only the last chunk's logits are needed.
  const auto t0 = Clock::now();
  std::vector<float> logits;
  for (size_t i = 0; i < r.prompt.size(); i += r.prefill_chunk) {
    const size_t end = std::min(r.prompt.size(), i + r.prefill_chunk);
    StepInput in{*root, std::vector<int>(r.prompt.begin() + i, r.prompt.begin() + end), true,
                 end == r.prompt.size()};
    absl::StatusOr<StepOutput> out = engine.Step({in});
    if (!out.ok()) return out.status();
    result.stats.Add(out->stats);
    if (in.want_logits) logits = std::move(out->logits[0]);
  }
  result.prompt_tokens_computed = result.prompt_tokens;
  for (int i = 1; i < r.num_samples; ++i) {
    absl::StatusOr<SequenceId> f = engine.Fork(*root, static_cast<uint32_t>(i));
    if (!f.ok()) return f.status();
    seqs.push_back(*f);
  }
  std::vector<SampleStream> samples;
  samples.reserve(r.num_samples);
  for (int i = 0; i < r.num_samples; ++i) {
    samples.emplace_back(&rules, tokenizer, r.prompt, static_cast<uint32_t>(i));
  }
  result.samples.resize(r.num_samples);
  const auto t1 = Clock::now();

  // Every sample draws from the prompt's logits, then from its own after each step.
  std::vector<StepInput> inputs;
  std::vector<int> which;
  for (int i = 0; i < r.num_samples; ++i) {
    if (!samples[i].finished()) samples[i].Advance(logits);
  }
  for (;;) {
    inputs.clear();
    which.clear();
    for (int i = 0; i < r.num_samples; ++i) {
      if (samples[i].finished()) continue;
      inputs.push_back(StepInput{seqs[i], {samples[i].next_token()}, false, true});
      which.push_back(i);
    }
    if (inputs.empty()) break;
    absl::StatusOr<StepOutput> out = engine.Step(inputs);
    if (!out.ok()) return out.status();
    result.stats.Add(out->stats);
    for (size_t j = 0; j < which.size(); ++j) samples[which[j]].Advance(out->logits[j]);
  }
  for (int i = 0; i < r.num_samples; ++i) {
    SampleOutput& o = result.samples[i];
    samples[i].TakeReleased(&o.text, &o.tokens, &o.logprobs);
    o.finish = *samples[i].finish();
  }
  const auto t2 = Clock::now();
  result.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  result.decode_seconds = std::chrono::duration<double>(t2 - t1).count();
  return result;
}

}  // namespace stocha
