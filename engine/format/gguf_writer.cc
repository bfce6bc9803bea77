// GgufWriter: GGUF header, metadata and tensor infos, then the tensors' bytes streamed.
#include "engine/format/gguf_writer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stocha {
namespace {

template <typename T>
void Put(std::string& out, T value) {
  char bytes[sizeof value];
  std::memcpy(bytes, &value, sizeof value);
  out.append(bytes, sizeof value);
}

template <typename T>
std::string Bytes(T value) {
  std::string out;
  Put(out, value);
  return out;
}

std::string ArrayPrefix(GgufType elem, uint64_t count) {
  return Bytes(static_cast<uint32_t>(elem)) + Bytes(count);
}

}  // namespace

std::string GgufWriter::EncodeString(const std::string& s) { return Bytes<uint64_t>(s.size()) + s; }

uint64_t GgufWriter::Padding(uint64_t offset, uint64_t alignment) {
  return (alignment - offset % alignment) % alignment;
}

GgufWriter& GgufWriter::Raw(const std::string& key, GgufType type, const std::string& value) {
  kv_ += EncodeString(key);
  Put(kv_, static_cast<uint32_t>(type));
  kv_ += value;
  ++n_kv_;
  return *this;
}

GgufWriter& GgufWriter::String(const std::string& key, const std::string& v) {
  return Raw(key, GgufType::kString, EncodeString(v));
}
GgufWriter& GgufWriter::U32(const std::string& key, uint32_t v) {
  return Raw(key, GgufType::kU32, Bytes(v));
}
GgufWriter& GgufWriter::I32(const std::string& key, int32_t v) {
  return Raw(key, GgufType::kI32, Bytes(v));
}
GgufWriter& GgufWriter::F32(const std::string& key, float v) {
  return Raw(key, GgufType::kF32, Bytes(v));
}
GgufWriter& GgufWriter::Bool(const std::string& key, bool v) {
  return Raw(key, GgufType::kBool, Bytes<uint8_t>(v ? 1 : 0));
}

GgufWriter& GgufWriter::Strings(const std::string& key, const std::vector<std::string>& v) {
  std::string a = ArrayPrefix(GgufType::kString, v.size());
  for (const std::string& s : v) a += EncodeString(s);
  return Raw(key, GgufType::kArray, a);
}

GgufWriter& GgufWriter::F32s(const std::string& key, const std::vector<float>& v) {
  std::string a = ArrayPrefix(GgufType::kF32, v.size());
  for (float x : v) Put(a, x);
  return Raw(key, GgufType::kArray, a);
}

GgufWriter& GgufWriter::I32s(const std::string& key, const std::vector<int32_t>& v) {
  std::string a = ArrayPrefix(GgufType::kI32, v.size());
  for (int32_t x : v) Put(a, x);
  return Raw(key, GgufType::kArray, a);
}

GgufWriter& GgufWriter::AddTensor(const std::string& name, uint32_t ggml_type,
                                  std::vector<int64_t> shape, uint64_t nbytes) {
  tensors_.push_back({name, ggml_type, std::move(shape), nbytes});
  return *this;
}

std::string GgufWriter::HeaderBytes(uint64_t alignment, uint32_t version) const {
  std::string out = "GGUF";
  Put(out, version);
  Put<uint64_t>(out, tensors_.size());
  Put<uint64_t>(out, n_kv_);
  out += kv_;
  uint64_t offset = 0;
  for (const TensorPlan& t : tensors_) {
    offset += Padding(offset, alignment);
    out += EncodeString(t.name);
    Put<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) {
      Put<uint64_t>(out, static_cast<uint64_t>(*it));
    }
    Put(out, t.ggml_type);
    Put<uint64_t>(out, offset);
    offset += t.nbytes;
  }
  out.append(Padding(out.size(), alignment), '\0');
  return out;
}

absl::Status GgufWriter::WriteBytes(const void* data, uint64_t n) {
  out_->write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  if (!*out_) return absl::InternalError("GGUF writer: the output stream failed");
  data_written_ += n;
  return absl::OkStatus();
}

absl::Status GgufWriter::Begin(std::ostream* out, uint64_t alignment, uint32_t version) {
  out_ = out;
  alignment_ = alignment;
  current_ = 0;
  current_done_ = 0;
  data_written_ = 0;
  started_current_ = false;
  const std::string header = HeaderBytes(alignment, version);
  out_->write(header.data(), static_cast<std::streamsize>(header.size()));
  if (!*out_) return absl::InternalError("GGUF writer: the output stream failed");
  return absl::OkStatus();
}

absl::Status GgufWriter::Advance() {
  while (current_ < tensors_.size() && current_done_ == tensors_[current_].nbytes) {
    if (tensors_[current_].nbytes > 0 || started_current_) {
      ++current_;
      current_done_ = 0;
      started_current_ = false;
      continue;
    }
    ++current_;  // a zero-byte tensor: nothing to write
  }
  if (current_ < tensors_.size() && !started_current_) {
    static const char kZeros[64] = {};
    uint64_t pad = Padding(data_written_, alignment_);
    while (pad > 0) {
      const uint64_t k = std::min<uint64_t>(pad, sizeof kZeros);
      if (auto s = WriteBytes(kZeros, k); !s.ok()) return s;
      pad -= k;
    }
    started_current_ = true;
  }
  return absl::OkStatus();
}

absl::Status GgufWriter::Append(const void* data, uint64_t n) {
  if (out_ == nullptr) return absl::FailedPreconditionError("GGUF writer: Append before Begin");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    if (auto s = Advance(); !s.ok()) return s;
    if (current_ >= tensors_.size()) {
      return absl::FailedPreconditionError(
          absl::StrCat("GGUF writer: ", n, " bytes more than the tensors planned"));
    }
    const uint64_t k = std::min(n, tensors_[current_].nbytes - current_done_);
    if (auto s = WriteBytes(p, k); !s.ok()) return s;
    current_done_ += k;
    p += k;
    n -= k;
  }
  return absl::OkStatus();
}

absl::Status GgufWriter::Finish() {
  if (out_ == nullptr) return absl::FailedPreconditionError("GGUF writer: Finish before Begin");
  if (auto s = Advance(); !s.ok()) return s;
  if (current_ < tensors_.size()) {
    const TensorPlan& t = tensors_[current_];
    return absl::FailedPreconditionError(absl::StrCat(
        "GGUF writer: tensor '", t.name, "' got ", current_done_, " of its ", t.nbytes, " bytes"));
  }
  out_->flush();
  if (!*out_) return absl::InternalError("GGUF writer: the output stream failed");
  out_ = nullptr;
  return absl::OkStatus();
}

}  // namespace stocha
