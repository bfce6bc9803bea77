// SampleStream: one sample's draw, stop rules and held-back output.
#include "engine/sample_stream.h"

#include <algorithm>
#include <utility>

#include "engine/rng.h"

namespace stocha {

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

std::vector<int> EndOfSequenceIds(const ModelConfig& config, const Tokenizer* tokenizer) {
  std::vector<int> ids = config.eos_token_ids;
  if (tokenizer != nullptr && tokenizer->eos_id() >= 0) ids.push_back(tokenizer->eos_id());
  ids.push_back(config.bos_token_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

SampleStream::SampleStream(const SampleRules* rules, const Tokenizer* tokenizer,
                           std::vector<int> prompt, uint32_t sample_index)
    : rules_(rules),
      sample_index_(sample_index),
      history_(std::move(prompt)),
      prompt_size_(history_.size()),
      matcher_(rules->stop_strings) {
  if (tokenizer != nullptr) {
    decoder_ = std::make_unique<StreamDecoder>(tokenizer, history_.back());
  }
  if (rules_->max_new_tokens <= 0) finish_ = FinishReason::kLength;
}

bool SampleStream::Contains(const std::vector<int>& ids, int id) const {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

void SampleStream::Advance(absl::Span<const float> logits) {
  const absl::Span<const int> history(history_);
  const RngKey key{rules_->sampling.seed, sample_index_, static_cast<uint32_t>(history.size()),
                   kSamplerStream};
  SampleResult pick = Sample(rules_->sampling, logits, history, history.subspan(prompt_size_), key);
  ++drawn_;
  const int token = pick.token;
  if (Contains(rules_->stop_token_ids, token)) {
    finish_ = FinishReason::kStop;
    stop_token_id_ = token;
  } else if (!rules_->ignore_eos && Contains(rules_->eos_ids, token)) {
    finish_ = FinishReason::kEos;
  } else {
    history_.push_back(token);
    PushText(token, std::move(pick));
    if (finished()) return;  // a stop string: nothing is held back any more
    if (static_cast<int>(history_.size() - prompt_size_) < rules_->max_new_tokens) return;
    finish_ = FinishReason::kLength;
  }
  Flush();
}

void SampleStream::Cancel() {
  if (finished()) return;
  finish_ = FinishReason::kCancelled;
  Flush();
}

void SampleStream::PushText(int token, SampleResult pick) {
  if (decoder_ == nullptr) {
    pending_.push_back({token, std::move(pick), decoded_});
    ReleaseTokens(/*all=*/true);
    return;
  }
  const std::string text = decoder_->Push(token);
  decoded_ += static_cast<int64_t>(text.size());
  held_text_ += text;
  pending_.push_back({token, std::move(pick), decoded_});
  ReleaseText(matcher_.Push(text));
  if (!matcher_.stopped()) return;
  finish_ = FinishReason::kStop;
  // What is held back now begins with the earliest stop string that matched.
  for (const std::string& s : rules_->stop_strings) {
    if (!s.empty() && held_text_.compare(0, s.size(), s) == 0) {
      stop_string_ = s;
      break;
    }
  }
  held_text_.clear();
  pending_.clear();  // these tokens formed the stop string
}

// The sample ended for another reason than a stop string: release everything held back.
void SampleStream::Flush() {
  if (matcher_.stopped()) return;
  if (decoder_ != nullptr) {
    const std::string tail = decoder_->Flush();
    decoded_ += static_cast<int64_t>(tail.size());
    held_text_ += tail;
    ReleaseText(matcher_.Push(tail));
    if (matcher_.stopped()) {  // the tail completed a stop string: still no stop shown
      held_text_.clear();
      pending_.clear();
      return;
    }
    ReleaseText(matcher_.Flush());
  }
  ReleaseTokens(/*all=*/true);
}

void SampleStream::ReleaseText(const std::string& text) {
  released_ += static_cast<int64_t>(text.size());
  held_text_.erase(0, text.size());
  out_text_ += text;
  ReleaseTokens(/*all=*/false);
}

void SampleStream::ReleaseTokens(bool all) {
  while (!pending_.empty() && (all || pending_.front().text_end <= released_)) {
    out_tokens_.push_back(pending_.front().token);
    if (rules_->keep_logprobs) out_logprobs_.push_back(std::move(pending_.front().pick));
    pending_.pop_front();
  }
}

void SampleStream::TakeReleased(std::string* text, std::vector<int>* tokens,
                                std::vector<SampleResult>* logprobs) {
  if (text != nullptr) text->append(out_text_);
  if (tokens != nullptr) tokens->insert(tokens->end(), out_tokens_.begin(), out_tokens_.end());
  if (logprobs != nullptr) {
    for (SampleResult& r : out_logprobs_) logprobs->push_back(std::move(r));
  }
  out_text_.clear();
  out_tokens_.clear();
  out_logprobs_.clear();
}

}  // namespace stocha
