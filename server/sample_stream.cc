// SampleStream: the StreamDecoder and StopMatcher of one sample, with token hold-back.
#include "server/sample_stream.h"

#include <utility>

namespace stocha::server {

SampleStream::SampleStream(const Tokenizer* tokenizer, int prev_token,
                           std::vector<std::string> stops, bool keep_logprobs)
    : matcher_(stops), stops_(std::move(stops)), keep_logprobs_(keep_logprobs) {
  if (tokenizer != nullptr) {
    decoder_ = std::make_unique<StreamDecoder>(tokenizer, prev_token);
  }
}

bool SampleStream::Push(int token, const SampleResult& pick) {
  if (stopped_) {
    return true;
  }
  if (decoder_ == nullptr) {
    pending_.push_back({token, pick, decoded_});
    ReleaseTokens(/*all=*/true);
    return false;
  }
  const std::string text = decoder_->Push(token);
  decoded_ += static_cast<int64_t>(text.size());
  held_text_ += text;
  pending_.push_back({token, pick, decoded_});
  ReleaseText(matcher_.Push(text));
  if (matcher_.stopped()) {
    stopped_ = true;
    // What is held back now begins with the earliest stop string that matched.
    for (const std::string& s : stops_) {
      if (!s.empty() && held_text_.compare(0, s.size(), s) == 0) {
        stop_string_ = s;
        break;
      }
    }
    held_text_.clear();
    pending_.clear();  // these tokens formed the stop string
  }
  return stopped_;
}

void SampleStream::Flush() {
  if (stopped_) {
    return;
  }
  if (decoder_ != nullptr) {
    const std::string tail = decoder_->Flush();
    decoded_ += static_cast<int64_t>(tail.size());
    held_text_ += tail;
    ReleaseText(matcher_.Push(tail));
    if (matcher_.stopped()) {
      stopped_ = true;
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
    if (keep_logprobs_) {
      out_logprobs_.push_back(std::move(pending_.front().pick));
    }
    pending_.pop_front();
  }
}

void SampleStream::TakeReleased(SampleChunk* chunk) {
  chunk->text += out_text_;
  chunk->token_ids.insert(chunk->token_ids.end(), out_tokens_.begin(), out_tokens_.end());
  for (SampleResult& r : out_logprobs_) {
    chunk->logprobs.push_back(std::move(r));
  }
  out_text_.clear();
  out_tokens_.clear();
  out_logprobs_.clear();
}

}  // namespace stocha::server
