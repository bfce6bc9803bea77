// One sample's output on its way out: tokens -> whole characters -> stop-string filter.
#ifndef STOCHA_SERVER_SAMPLE_STREAM_H_
#define STOCHA_SERVER_SAMPLE_STREAM_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/stop_matcher.h"
#include "engine/tokenizer.h"
#include "server/request.h"

namespace stocha::server {

// Text that might be the start of a stop string is held back, and so are the tokens
// (and log-probabilities) that produced it: a token goes out once all of its text has.
// When a stop string matches, the text before it goes out and the tokens that formed
// it are dropped, so neither text nor token ids of a stream ever show a stop string.
// Without a tokenizer there is no text: tokens go out at once and stop strings are
// ignored. Thread-safety: none; owned by the inference thread.
class SampleStream {
 public:
  SampleStream(const Tokenizer* tokenizer, int prev_token, std::vector<std::string> stops,
               bool keep_logprobs);

  // Adds a generated token (never a stop token or EOS). True when a stop string completed.
  bool Push(int token, const SampleResult& pick);
  // Ends the sample for another reason: releases everything held back.
  void Flush();
  // Moves what is released but not yet sent into `chunk`.
  void TakeReleased(SampleChunk* chunk);

  bool stopped() const { return stopped_; }
  const std::string& stop_string() const { return stop_string_; }

 private:
  struct Pending {
    int token;
    SampleResult pick;
    int64_t text_end;  // decoded bytes up to and including this token's
  };
  void ReleaseText(const std::string& text);
  void ReleaseTokens(bool all);

  std::unique_ptr<StreamDecoder> decoder_;
  StopMatcher matcher_;
  std::vector<std::string> stops_;
  bool keep_logprobs_;
  bool stopped_ = false;
  std::string stop_string_;
  int64_t decoded_ = 0;    // bytes the decoder produced so far
  int64_t released_ = 0;   // bytes the stop filter let through so far
  std::string held_text_;  // decoded but not released (starts with the stop, once stopped)
  std::deque<Pending> pending_;
  std::string out_text_;
  std::vector<int> out_tokens_;
  std::vector<SampleResult> out_logprobs_;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_SAMPLE_STREAM_H_
