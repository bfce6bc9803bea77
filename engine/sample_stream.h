// One sample of a request, token by token: draw, stop rules, limit, streamed text.
#ifndef STOCHA_ENGINE_SAMPLE_STREAM_H_
#define STOCHA_ENGINE_SAMPLE_STREAM_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "engine/model/model_config.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/stop_matcher.h"
#include "engine/tokenizer.h"

namespace stocha {

enum class FinishReason { kLength, kStop, kEos, kCancelled };
const char* FinishReasonName(FinishReason r);

// What the samples of one request share: how to draw and when to stop.
struct SampleRules {
  SamplingParams sampling;
  // Tokens a sample may add. Callers cap it at context - prompt (the KV cache holds
  // prompt + max_new_tokens positions; OpenAI's and vLLM's max_tokens mean the same).
  int max_new_tokens = 256;
  std::vector<std::string> stop_strings;  // cut from the text, with the tokens that formed it
  std::vector<int> stop_token_ids;        // end a sample (kStop); never part of the output
  bool ignore_eos = false;
  std::vector<int> eos_ids;   // end a sample (kEos) unless ignore_eos; see EndOfSequenceIds
  bool keep_logprobs = true;  // keep each released token's SampleResult
};

// The ids that end a sequence: the config's EOS ids, the tokenizer's EOS, and BOS (as
// llama2.c's run.c does). `tokenizer` may be null.
std::vector<int> EndOfSequenceIds(const ModelConfig& config, const Tokenizer* tokenizer);

// The per-sample step both request loops run (engine/generate.cc and the server's
// scheduler): Advance() draws the next token from the logits with the sample's own RNG key
// (seed, sample index, position, kSamplerStream), applies the penalties, then the stop
// rules in this order: a stop token (kStop), EOS (kEos), a stop string (kStop), the
// length limit (kLength). Stop and EOS tokens are never output.
//
// Output is released as it becomes final: text in whole UTF-8 characters, minus anything
// that might be the start of a stop string; a token (and its log-probability) goes out
// once all of its text has. When a stop string matches, the text before it goes out and
// the tokens that formed it are dropped, so neither the text nor the token ids ever show
// a stop string. Without a tokenizer there is no text: tokens go out at once and stop
// strings are ignored.
//
// Thread-safety: none; one per sample, owned by the thread that runs the loop.
class SampleStream {
 public:
  // `rules` and `tokenizer` (null: no text) must outlive the stream; `prompt` is not
  // empty. A stream with max_new_tokens == 0 starts finished (kLength).
  SampleStream(const SampleRules* rules, const Tokenizer* tokenizer, std::vector<int> prompt,
               uint32_t sample_index);

  // Draws the token that follows `logits` (the model's output after the last token) and
  // applies the stop rules. Only while !finished().
  void Advance(absl::Span<const float> logits);
  // Ends the sample now (kCancelled), releasing what is held back.
  void Cancel();

  bool finished() const { return finish_.has_value(); }
  const std::optional<FinishReason>& finish() const { return finish_; }
  // The token to feed the engine next; meaningful while !finished().
  int next_token() const { return history_.back(); }
  // Tokens drawn so far, stop and EOS tokens included (usage's completion tokens).
  int drawn() const { return drawn_; }
  const std::string& stop_string() const { return stop_string_; }  // set on kStop by string
  const std::optional<int>& stop_token_id() const { return stop_token_id_; }

  // Appends what is released but not yet taken (any pointer may be null to discard).
  void TakeReleased(std::string* text, std::vector<int>* tokens,
                    std::vector<SampleResult>* logprobs);

 private:
  struct Pending {
    int token;
    SampleResult pick;
    int64_t text_end;  // decoded bytes up to and including this token's
  };
  void PushText(int token, SampleResult pick);
  void Flush();
  void ReleaseText(const std::string& text);
  void ReleaseTokens(bool all);
  bool Contains(const std::vector<int>& ids, int id) const;

  const SampleRules* rules_;
  uint32_t sample_index_;
  std::vector<int> history_;  // prompt + generated (repetition penalty, RNG position)
  size_t prompt_size_;
  int drawn_ = 0;
  std::optional<FinishReason> finish_;
  std::string stop_string_;
  std::optional<int> stop_token_id_;

  std::unique_ptr<StreamDecoder> decoder_;  // null without a tokenizer
  StopMatcher matcher_;
  int64_t decoded_ = 0;    // bytes the decoder produced so far
  int64_t released_ = 0;   // bytes the stop filter let through so far
  std::string held_text_;  // decoded but not released (starts with the stop, once stopped)
  std::deque<Pending> pending_;
  std::string out_text_;
  std::vector<int> out_tokens_;
  std::vector<SampleResult> out_logprobs_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_SAMPLE_STREAM_H_
