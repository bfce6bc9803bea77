// SentencePiece tokenizer.model (a serialized ModelProto) read without protobuf.
#include "engine/tokenizers/sentencepiece_model_proto.h"

#include <array>
#include <bit>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizers/text_util.h"

namespace stocha::tokenizers {
namespace {

enum WireType {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

constexpr const char* kWireTypeNames[] = {"varint",      "fixed64",   "length-delimited",
                                          "start-group", "end-group", "fixed32"};
constexpr int kMaxGroupDepth = 32;  // protobuf's own recursion limit is 100

struct Field {
  uint32_t number = 0;
  int wire_type = 0;
  size_t offset = 0;  // of the tag, within the message
};

// Bounds-checked reads over one message's bytes. `base` is where the message starts in the
// file, so that every error can say where it happened.
// Thread-safety: one thread, short-lived.
class Cursor {
 public:
  Cursor(std::string_view data, size_t base, std::string message, const std::string& source)
      : data_(data), base_(base), message_(std::move(message)), source_(source) {}

  bool done() const { return pos_ >= data_.size(); }

  absl::Status Next(Field* f) {
    f->offset = pos_;
    uint64_t tag = 0;
    if (absl::Status s = Varint(&tag); !s.ok()) return s;
    f->number = static_cast<uint32_t>(tag >> 3);
    f->wire_type = static_cast<int>(tag & 7);
    if (f->number == 0 || (tag >> 3) > 0x1FFFFFFF) {
      return Error(f->offset, absl::StrCat("invalid field number ", tag >> 3));
    }
    if (f->wire_type > kFixed32) {
      return Error(f->offset,
                   absl::StrCat("field ", f->number, " has invalid wire type ", f->wire_type));
    }
    return absl::OkStatus();
  }

  absl::Status ReadBool(const Field& f, const char* name, bool* out) {
    uint64_t v = 0;
    if (absl::Status s = ReadVarintField(f, name, &v); !s.ok()) return s;
    *out = v != 0;
    return absl::OkStatus();
  }

  // int32 and enum fields: protobuf keeps the low 32 bits of the varint.
  absl::Status ReadInt32(const Field& f, const char* name, int* out) {
    uint64_t v = 0;
    if (absl::Status s = ReadVarintField(f, name, &v); !s.ok()) return s;
    *out = static_cast<int32_t>(static_cast<uint32_t>(v));
    return absl::OkStatus();
  }

  absl::Status ReadFloat(const Field& f, const char* name, float* out) {
    if (absl::Status s = Expect(f, name, kFixed32); !s.ok()) return s;
    if (data_.size() - pos_ < 4) return Error(pos_, absl::StrCat(name, ": truncated fixed32"));
    uint32_t bits = 0;
    for (int i = 3; i >= 0; --i) bits = (bits << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += 4;
    *out = std::bit_cast<float>(bits);
    return absl::OkStatus();
  }

  // string, bytes and embedded-message fields.
  absl::Status ReadBytes(const Field& f, const char* name, std::string_view* out) {
    if (absl::Status s = Expect(f, name, kLengthDelimited); !s.ok()) return s;
    return LengthDelimited(name, out);
  }
  absl::Status ReadString(const Field& f, const char* name, std::string* out) {
    std::string_view bytes;
    if (absl::Status s = ReadBytes(f, name, &bytes); !s.ok()) return s;
    *out = std::string(bytes);
    return absl::OkStatus();
  }

  // A cursor over an embedded message that ReadBytes returned from this one.
  Cursor Sub(std::string_view bytes, std::string message) const {
    return Cursor(bytes, base_ + static_cast<size_t>(bytes.data() - data_.data()),
                  std::move(message), source_);
  }

  // Skips an unknown field of any wire type, groups included.
  absl::Status Skip(const Field& f, int depth = 0) {
    switch (f.wire_type) {
      case kVarint: {
        uint64_t v = 0;
        return Varint(&v);
      }
      case kFixed64:
      case kFixed32: {
        const size_t n = f.wire_type == kFixed64 ? 8 : 4;
        if (data_.size() - pos_ < n) {
          return Error(
              pos_, absl::StrCat("field ", f.number, ": truncated ", kWireTypeNames[f.wire_type]));
        }
        pos_ += n;
        return absl::OkStatus();
      }
      case kLengthDelimited: {
        std::string_view ignored;
        return LengthDelimited(absl::StrCat("field ", f.number), &ignored);
      }
      case kStartGroup:
        return SkipGroup(f, depth);
      default:
        return Error(f.offset, absl::StrCat("unexpected end-group tag for field ", f.number));
    }
  }

  absl::Status Error(size_t pos, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_,
                                                   ": malformed SentencePiece model: ", message_,
                                                   ": ", what, " (byte ", base_ + pos, ")"));
  }

 private:
  absl::Status Varint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos_ >= data_.size()) return Error(pos_, "truncated varint");
      const uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return absl::OkStatus();
      }
    }
    return Error(pos_, "varint longer than 10 bytes");
  }

  absl::Status Expect(const Field& f, const char* name, int wire_type) const {
    if (f.wire_type == wire_type) return absl::OkStatus();
    return Error(f.offset, absl::StrCat(name, " (field ", f.number, ") has wire type ",
                                        kWireTypeNames[f.wire_type], ", expected ",
                                        kWireTypeNames[wire_type]));
  }

  absl::Status ReadVarintField(const Field& f, const char* name, uint64_t* v) {
    if (absl::Status s = Expect(f, name, kVarint); !s.ok()) return s;
    return Varint(v);
  }

  absl::Status LengthDelimited(absl::string_view name, std::string_view* out) {
    const size_t start = pos_;
    uint64_t n = 0;
    if (absl::Status s = Varint(&n); !s.ok()) return s;
    if (n > data_.size() - pos_) {
      return Error(start, absl::StrCat(name, ": length ", n, " runs past the end (",
                                       data_.size() - pos_, " bytes left)"));
    }
    *out = data_.substr(pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }

  absl::Status SkipGroup(const Field& start, int depth) {
    if (depth >= kMaxGroupDepth) return Error(start.offset, "groups nested too deeply");
    while (!done()) {
      Field f;
      if (absl::Status s = Next(&f); !s.ok()) return s;
      if (f.wire_type == kEndGroup) {
        if (f.number == start.number) return absl::OkStatus();
        return Error(f.offset, absl::StrCat("end-group tag for field ", f.number, " inside group ",
                                            start.number));
      }
      if (absl::Status s = Skip(f, depth + 1); !s.ok()) return s;
    }
    return Error(pos_, absl::StrCat("group ", start.number, " is not closed"));
  }

  std::string_view data_;
  size_t pos_ = 0;
  size_t base_;
  std::string message_;  // "trainer_spec", "pieces[7]", ...
  const std::string& source_;
};

absl::Status ParsePiece(Cursor c, SentencePieceModel::Piece* piece) {
  while (!c.done()) {
    Field f;
    if (absl::Status s = c.Next(&f); !s.ok()) return s;
    absl::Status s;
    switch (f.number) {
      case 1:
        s = c.ReadString(f, "piece", &piece->piece);
        break;
      case 2:
        s = c.ReadFloat(f, "score", &piece->score);
        break;
      case 3:
        s = c.ReadInt32(f, "type", &piece->type);
        if (s.ok() && (piece->type < SentencePieceModel::kNormal ||
                       piece->type > SentencePieceModel::kByte)) {
          s = c.Error(f.offset, absl::StrCat("unknown piece type ", piece->type));
        }
        break;
      default:
        s = c.Skip(f);
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Which of trainer_spec's unk/bos/eos/pad ids the file sets: only those are range-checked,
// as a small hand-made model may leave eos_id = 2 (the default) beyond its pieces.
using IdsPresent = std::array<bool, 4>;

absl::Status ParseTrainerSpec(Cursor c, SentencePieceModel::TrainerSpec* spec,
                              IdsPresent* present) {
  while (!c.done()) {
    Field f;
    if (absl::Status s = c.Next(&f); !s.ok()) return s;
    absl::Status s;
    switch (f.number) {
      case 3:
        s = c.ReadInt32(f, "model_type", &spec->model_type);
        if (s.ok() && *ModelTypeName(spec->model_type) == '\0') {
          s = c.Error(f.offset, absl::StrCat("unknown model_type ", spec->model_type));
        }
        break;
      case 24:
        s = c.ReadBool(f, "treat_whitespace_as_suffix", &spec->treat_whitespace_as_suffix);
        break;
      case 35:
        s = c.ReadBool(f, "byte_fallback", &spec->byte_fallback);
        break;
      case 40:
      case 41:
      case 42:
      case 43: {
        static constexpr const char* kIdNames[] = {"unk_id", "bos_id", "eos_id", "pad_id"};
        int* ids[] = {&spec->unk_id, &spec->bos_id, &spec->eos_id, &spec->pad_id};
        s = c.ReadInt32(f, kIdNames[f.number - 40], ids[f.number - 40]);
        (*present)[f.number - 40] = true;
        break;
      }
      case 44:
        s = c.ReadString(f, "unk_surface", &spec->unk_surface);
        break;
      case 45:
        s = c.ReadString(f, "unk_piece", &spec->unk_piece);
        break;
      case 46:
        s = c.ReadString(f, "bos_piece", &spec->bos_piece);
        break;
      case 47:
        s = c.ReadString(f, "eos_piece", &spec->eos_piece);
        break;
      case 48:
        s = c.ReadString(f, "pad_piece", &spec->pad_piece);
        break;
      default:
        s = c.Skip(f);
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ParseNormalizerSpec(Cursor c, SentencePieceModel::NormalizerSpec* spec) {
  while (!c.done()) {
    Field f;
    if (absl::Status s = c.Next(&f); !s.ok()) return s;
    absl::Status s;
    switch (f.number) {
      case 1:
        s = c.ReadString(f, "name", &spec->name);
        break;
      case 2:
        s = c.ReadString(f, "precompiled_charsmap", &spec->precompiled_charsmap);
        break;
      case 3:
        s = c.ReadBool(f, "add_dummy_prefix", &spec->add_dummy_prefix);
        break;
      case 4:
        s = c.ReadBool(f, "remove_extra_whitespaces", &spec->remove_extra_whitespaces);
        break;
      case 5:
        s = c.ReadBool(f, "escape_whitespaces", &spec->escape_whitespaces);
        break;
      default:
        s = c.Skip(f);
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Embedded messages that occur more than once are merged, as protobuf does.
absl::Status ParseModelProto(Cursor c, SentencePieceModel* model, IdsPresent* present) {
  while (!c.done()) {
    Field f;
    if (absl::Status s = c.Next(&f); !s.ok()) return s;
    if (f.number > 5 || f.number == 4) {  // 4: self_test_data
      if (absl::Status s = c.Skip(f); !s.ok()) return s;
      continue;
    }
    static constexpr const char* kNames[] = {
        "", "pieces", "trainer_spec", "normalizer_spec", "", "denormalizer_spec"};
    std::string_view bytes;
    if (absl::Status s = c.ReadBytes(f, kNames[f.number], &bytes); !s.ok()) return s;
    absl::Status s;
    if (f.number == 1) {
      model->pieces.emplace_back();
      s = ParsePiece(c.Sub(bytes, absl::StrCat("pieces[", model->pieces.size() - 1, "]")),
                     &model->pieces.back());
    } else if (f.number == 2) {
      s = ParseTrainerSpec(c.Sub(bytes, "trainer_spec"), &model->trainer_spec, present);
    } else if (f.number == 3) {
      s = ParseNormalizerSpec(c.Sub(bytes, "normalizer_spec"), &model->normalizer_spec);
    } else {
      // Assigned, not emplace()d: clang caches NormalizerSpec as not default-constructible
      // while the enclosing struct is incomplete (default member initializers).
      if (!model->denormalizer_spec)
        model->denormalizer_spec = SentencePieceModel::NormalizerSpec();
      s = ParseNormalizerSpec(c.Sub(bytes, "denormalizer_spec"), &*model->denormalizer_spec);
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Validate(const SentencePieceModel& model, const IdsPresent& present,
                      const std::string& source) {
  const int n = static_cast<int>(model.pieces.size());
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": malformed SentencePiece model: ", what));
  };
  if (n == 0) return error("no pieces");
  for (int id = 0; id < n; ++id) {
    if (model.pieces[id].piece.empty()) return error(absl::StrCat("pieces[", id, "] is empty"));
  }
  const SentencePieceModel::TrainerSpec& t = model.trainer_spec;
  const std::pair<const char*, int> ids[] = {
      {"unk_id", t.unk_id}, {"bos_id", t.bos_id}, {"eos_id", t.eos_id}, {"pad_id", t.pad_id}};
  for (int i = 0; i < 4; ++i) {
    const auto& [name, id] = ids[i];
    if (present[i] && (id < -1 || id >= n)) {
      return error(
          absl::StrCat("trainer_spec.", name, " = ", id, " is outside the ", n, " pieces"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const char* ModelTypeName(int model_type) {
  switch (model_type) {
    case SentencePieceModel::kUnigram:
      return "UNIGRAM";
    case SentencePieceModel::kBpe:
      return "BPE";
    case SentencePieceModel::kWord:
      return "WORD";
    case SentencePieceModel::kChar:
      return "CHAR";
    default:
      return "";
  }
}

absl::StatusOr<SentencePieceModel> ParseSentencePieceModel(std::string_view bytes,
                                                           const std::string& source) {
  SentencePieceModel model;
  IdsPresent present = {};
  Cursor cursor(bytes, 0, "ModelProto", source);
  if (absl::Status s = ParseModelProto(cursor, &model, &present); !s.ok()) return s;
  if (absl::Status s = Validate(model, present, source); !s.ok()) return s;
  return model;
}

absl::StatusOr<SentencePieceModel> ReadSentencePieceModel(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return ParseSentencePieceModel(*bytes, path);
}

}  // namespace stocha::tokenizers
