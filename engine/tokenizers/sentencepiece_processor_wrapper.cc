// Abseil-free wrapper around sentencepiece::SentencePieceProcessor (no Abseil includes here).
#include "engine/tokenizers/sentencepiece_processor_wrapper.h"

#include "sentencepiece_processor.h"

namespace stocha::tokenizers {

struct SentencePieceProcessorWrapper::Impl {
  sentencepiece::SentencePieceProcessor processor;
};

SentencePieceProcessorWrapper::SentencePieceProcessorWrapper(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
SentencePieceProcessorWrapper::~SentencePieceProcessorWrapper() = default;

std::unique_ptr<SentencePieceProcessorWrapper> SentencePieceProcessorWrapper::Load(
    const std::string& path, std::string* error) {
  auto impl = std::make_unique<Impl>();
  const auto status = impl->processor.Load(path);
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return std::unique_ptr<SentencePieceProcessorWrapper>(
      new SentencePieceProcessorWrapper(std::move(impl)));
}

bool SentencePieceProcessorWrapper::Encode(std::string_view text, std::vector<int>* ids,
                                           std::string* error) const {
  const auto status = impl_->processor.Encode(text, ids);
  if (status.ok()) return true;
  *error = status.ToString();
  return false;
}

int SentencePieceProcessorWrapper::piece_size() const { return impl_->processor.GetPieceSize(); }
int SentencePieceProcessorWrapper::bos_id() const { return impl_->processor.bos_id(); }
int SentencePieceProcessorWrapper::eos_id() const { return impl_->processor.eos_id(); }
const std::string& SentencePieceProcessorWrapper::IdToPiece(int id) const {
  return impl_->processor.IdToPiece(id);
}
bool SentencePieceProcessorWrapper::IsControl(int id) const {
  return impl_->processor.IsControl(id);
}
bool SentencePieceProcessorWrapper::IsUnknown(int id) const {
  return impl_->processor.IsUnknown(id);
}
bool SentencePieceProcessorWrapper::IsUnused(int id) const { return impl_->processor.IsUnused(id); }
bool SentencePieceProcessorWrapper::IsByte(int id) const { return impl_->processor.IsByte(id); }

}  // namespace stocha::tokenizers
