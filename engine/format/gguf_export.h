// Writes a loaded Model as a llama-architecture GGUF with its matrices in a chosen type.
#ifndef STOCHA_ENGINE_FORMAT_GGUF_EXPORT_H_
#define STOCHA_ENGINE_FORMAT_GGUF_EXPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/dtype.h"
#include "engine/model/model.h"
#include "engine/tokenizers/gguf_vocab.h"

namespace stocha {

// The GGUF (ggml) type id of `t`, found by name in GgmlTypeName's table, so a DType added
// later needs no second table here; nullopt if ggml has no such type.
std::optional<uint32_t> GgmlTypeOf(DType t);

// The vocabulary to embed when exporting the model at `model_path` (what LoadModel was
// given) with the tokenizer `tokenizer_path` (LoadOptions::tokenizer_path, may be empty):
//   - a GGUF (the model, or the tokenizer file): its tokenizer.ggml.* copied;
//   - a SentencePiece tokenizer.model (the HF directory's, or the tokenizer file) of the
//     BPE type: its pieces, scores and piece types as a "llama" vocabulary (what
//     llama.cpp's convert_hf_to_gguf.py writes for such models, _set_vocab_sentencepiece);
//   - no tokenizer at all: nullopt (the file is written without one, as the model had);
//   - anything else (a llama2.c tokenizer.bin, an HF tokenizer.json, a unigram
//     SentencePiece model): Unimplemented naming the file, since dropping the vocabulary
//     silently would give a model that no longer encodes text.
absl::StatusOr<std::optional<GgufVocab>> VocabForExport(const std::string& model_path,
                                                        const std::string& tokenizer_path);

struct ExportedTensor {
  std::string name;  // the GGUF name, e.g. "blk.0.ffn_down.weight"
  DType type;
  bool fallback;  // a matrix kept in StorageTypeFor's fallback instead of the target
};

// Writes `model` to `path` as GGUF: llama.* hyperparameters, stocha.* keys (activation,
// gating, training recipe), `vocab` (if set) as tokenizer.ggml.*, and the tensors with
// llama.cpp's names, each matrix in StorageTypeFor(target, ...) (weight_types.h) and
// norms in F32. Hugging Face Q/K rows are permuted to GGUF's interleaved RoPE order as
// llama.cpp's converter does (convert_hf_to_gguf.py, LlamaModel.permute). Tensor data is
// streamed row by row (GgufWriter). Refuses, naming the feature, what the GGUF loader
// cannot read back: llama3 RoPE scaling, an o_proj bias, a non-llama architecture.
absl::StatusOr<std::vector<ExportedTensor>> WriteModelGguf(const Model& model,
                                                           const std::optional<GgufVocab>& vocab,
                                                           DType target, const std::string& path);

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_GGUF_EXPORT_H_
