// SentencePiece tokenizer.model (a serialized ModelProto) read without protobuf.
#ifndef STOCHA_ENGINE_TOKENIZERS_SENTENCEPIECE_MODEL_PROTO_H_
#define STOCHA_ENGINE_TOKENIZERS_SENTENCEPIECE_MODEL_PROTO_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace stocha::tokenizers {

// The fields of sentencepiece_model.proto that encoding and decoding need (field numbers
// in comments, defaults as the .proto declares them); training-only fields are skipped.
// Why not protobuf: Debian's libsentencepiece exports its embedded protobuf-lite 3.14, and
// in a process that also links libprotobuf 3.21 (gRPC) those symbols are interposed and
// the version check aborts. Hand-parsing ~15 fields keeps tokenizer.model usable there.
struct SentencePieceModel {
  enum PieceType {
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6,
  };
  enum ModelType { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

  struct Piece {         // ModelProto.SentencePiece
    std::string piece;   // 1
    float score = 0.0f;  // 2
    int type = kNormal;  // 3, a PieceType
  };
  struct TrainerSpec {
    int model_type = kUnigram;                   // 3, a ModelType
    bool treat_whitespace_as_suffix = false;     // 24
    bool byte_fallback = false;                  // 35
    int unk_id = 0, bos_id = 1, eos_id = 2;      // 40, 41, 42
    int pad_id = -1;                             // 43
    std::string unk_surface = " \xE2\x81\x87 ";  // 44 (" ⁇ ")
    std::string unk_piece = "<unk>";             // 45
    std::string bos_piece = "<s>";               // 46
    std::string eos_piece = "</s>";              // 47
    std::string pad_piece = "<pad>";             // 48
  };
  struct NormalizerSpec {
    std::string name;                      // 1, e.g. "identity", "nmt_nfkc"
    std::string precompiled_charsmap;      // 2, empty: no character mapping
    bool add_dummy_prefix = true;          // 3
    bool remove_extra_whitespaces = true;  // 4
    bool escape_whitespaces = true;        // 5
  };

  std::vector<Piece> pieces;                        // 1 (repeated)
  TrainerSpec trainer_spec;                         // 2
  NormalizerSpec normalizer_spec;                   // 3
  std::optional<NormalizerSpec> denormalizer_spec;  // 5
};

// "UNIGRAM", "BPE", "WORD", "CHAR", or "" for another value.
const char* ModelTypeName(int model_type);

// Parses a serialized ModelProto. Unknown fields of every wire type are skipped; a
// truncated or malformed encoding, a known field with the wrong wire type, an unknown enum
// value, no pieces, an empty piece, or a trainer_spec id that the file sets outside
// [-1, pieces) is InvalidArgument naming `source` and the problem. Never reads outside
// `bytes`.
absl::StatusOr<SentencePieceModel> ParseSentencePieceModel(std::string_view bytes,
                                                           const std::string& source);

// Reads and parses the file at `path` (errors name it).
absl::StatusOr<SentencePieceModel> ReadSentencePieceModel(const std::string& path);

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_SENTENCEPIECE_MODEL_PROTO_H_
