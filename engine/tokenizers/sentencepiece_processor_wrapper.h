// Abseil-free wrapper around sentencepiece::SentencePieceProcessor.
#ifndef STOCHA_ENGINE_TOKENIZERS_SENTENCEPIECE_PROCESSOR_WRAPPER_H_
#define STOCHA_ENGINE_TOKENIZERS_SENTENCEPIECE_PROCESSOR_WRAPPER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stocha::tokenizers {

// libsentencepiece 0.1.97's public header declares `namespace absl { using
// std::string_view; }`, which clashes with Abseil's own absl::string_view. So the library
// is only included by the .cc of this class, which includes no Abseil header, and this
// header uses std types only. Errors come back as strings.
// Thread-safety: const methods are safe to call concurrently after Load.
class SentencePieceProcessorWrapper {
 public:
  // nullptr on failure, with *error set.
  static std::unique_ptr<SentencePieceProcessorWrapper> Load(const std::string& path,
                                                             std::string* error);
  ~SentencePieceProcessorWrapper();

  // false on failure, with *error set.
  bool Encode(std::string_view text, std::vector<int>* ids, std::string* error) const;

  int piece_size() const;
  int bos_id() const;
  int eos_id() const;
  const std::string& IdToPiece(int id) const;
  bool IsControl(int id) const;
  bool IsUnknown(int id) const;
  bool IsUnused(int id) const;
  bool IsByte(int id) const;

 private:
  struct Impl;
  explicit SentencePieceProcessorWrapper(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_SENTENCEPIECE_PROCESSOR_WRAPPER_H_
