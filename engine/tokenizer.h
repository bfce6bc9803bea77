// The tokenizer interface every vocabulary format implements.
#ifndef STOCHA_ENGINE_TOKENIZER_H_
#define STOCHA_ENGINE_TOKENIZER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace stocha {

// Thread-safety: all methods are const and safe to call concurrently after construction.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Encodes text; with add_bos, prepends bos_id(). An empty text with add_bos gives [BOS].
  virtual absl::StatusOr<std::vector<int>> Encode(std::string_view text, bool add_bos) const = 0;

  // The raw bytes that `token` contributes to the output when it follows `prev_token`
  // (e.g. byte-fallback pieces give one byte; a leading space after BOS is dropped for
  // SentencePiece-style vocabularies; control tokens give ""). May be an incomplete UTF-8
  // sequence: StreamDecoder reassembles characters split across tokens.
  virtual std::string TokenBytes(int prev_token, int token) const = 0;

  // Convenience: concatenated TokenBytes of ids (prev of the first is `prev`).
  std::string Decode(const std::vector<int>& ids, int prev = -1) const;

  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;  // -1 if none
};

// Turns a token stream into text that never contains half a UTF-8 character: bytes of an
// incomplete character are held back until the tokens that complete it arrive.
// Not thread-safe; one per sequence.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer* tokenizer, int prev_token = -1)
      : tokenizer_(tokenizer), prev_(prev_token) {}
  // Returns the complete characters now available (possibly "").
  std::string Push(int token);
  // Returns what is held back (invalid/incomplete bytes are replaced by U+FFFD).
  std::string Flush();

 private:
  const Tokenizer* tokenizer_;
  int prev_;
  std::string pending_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_TOKENIZER_H_
