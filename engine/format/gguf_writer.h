// GgufWriter: the project's one GGUF writer (metadata, tensor infos, streamed tensor data).
#ifndef STOCHA_ENGINE_FORMAT_GGUF_WRITER_H_
#define STOCHA_ENGINE_FORMAT_GGUF_WRITER_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/format/gguf.h"

namespace stocha {

// Writes a GGUF file (the layout of ggml/docs/gguf.md in ggml-org/ggml: header, metadata
// key/values, tensor infos, then the data section, each tensor starting at a multiple of
// the alignment) in two phases:
//   1. describe it: metadata in the order given, then every tensor's name, ggml type,
//      shape and byte size (AddTensor), in the order its bytes will follow;
//   2. stream it: Begin(out) writes everything before the data section, Append() the
//      tensors' bytes in that order (any number of calls per tensor; the padding between
//      tensors is inserted here), Finish() checks every planned byte arrived.
// Only the metadata and tensor infos are held; tensor data goes straight to `out`, so
// a file of many GiB is written with one tensor chunk in memory.
// The metadata adders do not validate: tests write malformed files through Raw().
// Thread-safety: none (one writer, one thread).
class GgufWriter {
 public:
  // A GGUF string: u64 length, then the bytes.
  static std::string EncodeString(const std::string& s);
  // Zero bytes that bring an offset to the next multiple of `alignment`.
  static uint64_t Padding(uint64_t offset, uint64_t alignment);

  // `type`: the GGUF value type; `value`: its encoding (for arrays: element type, count,
  // elements).
  GgufWriter& Raw(const std::string& key, GgufType type, const std::string& value);
  GgufWriter& String(const std::string& key, const std::string& v);
  GgufWriter& U32(const std::string& key, uint32_t v);
  GgufWriter& I32(const std::string& key, int32_t v);
  GgufWriter& F32(const std::string& key, float v);
  GgufWriter& Bool(const std::string& key, bool v);
  GgufWriter& Strings(const std::string& key, const std::vector<std::string>& v);
  GgufWriter& F32s(const std::string& key, const std::vector<float>& v);
  GgufWriter& I32s(const std::string& key, const std::vector<int32_t>& v);

  // `shape` is row-major (outermost first); GGUF stores it reversed (ne[0] innermost).
  GgufWriter& AddTensor(const std::string& name, uint32_t ggml_type, std::vector<int64_t> shape,
                        uint64_t nbytes);

  // Everything before the data section: header, metadata, tensor infos, padding.
  // `alignment` must match general.alignment when that key is set (32 otherwise).
  std::string HeaderBytes(uint64_t alignment = 32, uint32_t version = 3) const;

  // Streaming. Errors (a write failure, more or fewer bytes than planned) are
  // InternalError / FailedPrecondition naming the tensor.
  absl::Status Begin(std::ostream* out, uint64_t alignment = 32, uint32_t version = 3);
  absl::Status Append(const void* data, uint64_t n);
  absl::Status Finish();

  size_t tensor_count() const { return tensors_.size(); }
  uint64_t data_bytes() const { return data_written_; }  // streamed so far, padding included

 private:
  struct TensorPlan {
    std::string name;
    uint32_t ggml_type;
    std::vector<int64_t> shape;
    uint64_t nbytes;
  };
  absl::Status WriteBytes(const void* data, uint64_t n);
  // Moves past tensors that are complete (writing the next one's leading padding).
  absl::Status Advance();

  std::string kv_;
  uint64_t n_kv_ = 0;
  std::vector<TensorPlan> tensors_;

  std::ostream* out_ = nullptr;
  uint64_t alignment_ = 32;
  size_t current_ = 0;         // the tensor Append() is filling
  uint64_t current_done_ = 0;  // its bytes written so far
  uint64_t data_written_ = 0;  // bytes of the data section written so far
  bool started_current_ = false;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_GGUF_WRITER_H_
