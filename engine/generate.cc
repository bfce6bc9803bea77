// Generate(): the request loop the CLI and the golden tests use.
#include "engine/generate.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "engine/stop_matcher.h"

namespace stocha {
namespace {

using Clock = std::chrono::steady_clock;

struct SampleState {
  SequenceId seq = 0;
  std::vector<int> generated;
  std::vector<int> history;  // prompt + generated
  std::unique_ptr<StreamDecoder> decoder;
  std::unique_ptr<StopMatcher> stop;
  bool done = false;
};

absl::Status ValidateRequest(const Engine& engine, const GenerateRequest& r) {
  if (r.prompt.empty()) return absl::InvalidArgumentError("prompt: no tokens (add BOS)");
  if (r.max_new_tokens < 0) return absl::InvalidArgumentError("max_new_tokens must be >= 0");
  if (r.num_samples < 1) return absl::InvalidArgumentError("num_samples must be >= 1");
  if (r.prefill_chunk < 1) return absl::InvalidArgumentError("prefill_chunk must be >= 1");
  if (static_cast<int>(r.prompt.size()) > engine.max_context()) {
    return absl::InvalidArgumentError(absl::StrFormat("prompt: %d tokens exceed the context of %d",
                                                      r.prompt.size(), engine.max_context()));
  }
  return ValidateSamplingParams(r.sampling);
}

bool IsStopToken(const GenerateRequest& r, const Tokenizer* tok, int bos, int id,
                 const std::vector<int>& eos_ids, FinishReason* why) {
  if (std::find(r.stop_token_ids.begin(), r.stop_token_ids.end(), id) != r.stop_token_ids.end()) {
    *why = FinishReason::kStop;
    return true;
  }
  if (r.ignore_eos) return false;
  const bool eos = std::find(eos_ids.begin(), eos_ids.end(), id) != eos_ids.end() ||
                   (tok != nullptr && id == tok->eos_id()) || id == bos;
  if (eos) *why = FinishReason::kEos;
  return eos;
}

}  // namespace

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "?";
}

absl::StatusOr<GenerateResult> Generate(Engine& engine, const Tokenizer* tokenizer,
                                        const GenerateRequest& r, const StreamCallback& on_text) {
  if (absl::Status s = ValidateRequest(engine, r); !s.ok()) return s;
  const ModelConfig& c = engine.model().config();
  GenerateResult result;
  result.prompt_tokens = static_cast<int>(r.prompt.size());
  // The last sampled token is never fed back, so it needs no KV slot: a full context
  // yields max_context - prompt + 1 new tokens (as llama2.c's run.c does).
  const int max_new = std::min(r.max_new_tokens, engine.max_context() - result.prompt_tokens + 1);

  SequenceOptions so{r.activation, r.sampling.seed, 0};
  absl::StatusOr<SequenceId> root = engine.AddSequence(so);
  if (!root.ok()) return root.status();
  std::vector<SampleState> samples(r.num_samples);
  samples[0].seq = *root;
  absl::Cleanup remove_all = [&] {
    for (const SampleState& s : samples) {
      if (s.seq != 0) (void)engine.RemoveSequence(s.seq);
    }
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
    absl::StatusOr<SequenceId> f = engine.Fork(*root, static_cast<uint32_t>(i), r.activation);
    if (!f.ok()) return f.status();
    samples[i].seq = *f;
  }
  for (SampleState& s : samples) {
    s.history = r.prompt;
    if (tokenizer != nullptr)
      s.decoder = std::make_unique<StreamDecoder>(tokenizer, r.prompt.back());
    s.stop = std::make_unique<StopMatcher>(r.stop_strings);
  }
  result.samples.resize(r.num_samples);
  const auto t1 = Clock::now();

  std::vector<std::vector<float>> sample_logits(r.num_samples, logits);
  for (int step = 0; step < max_new; ++step) {
    std::vector<StepInput> inputs;
    std::vector<int> which;
    for (int i = 0; i < r.num_samples; ++i) {
      SampleState& s = samples[i];
      if (s.done) continue;
      SampleOutput& o = result.samples[i];
      const int pos = static_cast<int>(s.history.size());
      const SampleResult pick = Sample(r.sampling, sample_logits[i], s.history, s.generated,
                                       RngKey{r.sampling.seed, static_cast<uint32_t>(i),
                                              static_cast<uint32_t>(pos), kSamplerStream});
      FinishReason why;
      if (IsStopToken(r, tokenizer, c.bos_token_id, pick.token, c.eos_token_ids, &why)) {
        s.done = true;
        o.finish = why;
        continue;
      }
      s.generated.push_back(pick.token);
      s.history.push_back(pick.token);
      o.tokens.push_back(pick.token);
      o.logprobs.push_back(pick);
      if (s.decoder) {
        const std::string text = s.stop->Push(s.decoder->Push(pick.token));
        o.text += text;
        if (on_text && !text.empty() && !on_text(i, text)) {
          s.done = true;
          o.finish = FinishReason::kCancelled;
        }
        if (s.stop->stopped()) {
          s.done = true;
          o.finish = FinishReason::kStop;
        }
      }
      if (!s.done && step + 1 < max_new) {
        inputs.push_back(StepInput{s.seq, {pick.token}, false, true});
        which.push_back(i);
      }
    }
    if (inputs.empty()) break;
    absl::StatusOr<StepOutput> out = engine.Step(inputs);
    if (!out.ok()) return out.status();
    result.stats.Add(out->stats);
    for (size_t j = 0; j < which.size(); ++j) sample_logits[which[j]] = std::move(out->logits[j]);
  }
  for (int i = 0; i < r.num_samples; ++i) {
    SampleState& s = samples[i];
    if (s.decoder && !s.stop->stopped()) {
      const std::string tail = s.stop->Push(s.decoder->Flush()) + s.stop->Flush();
      result.samples[i].text += tail;
      if (on_text && !tail.empty()) on_text(i, tail);
    }
  }
  const auto t2 = Clock::now();
  result.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  result.decode_seconds = std::chrono::duration<double>(t2 - t1).count();
  return result;
}

}  // namespace stocha
