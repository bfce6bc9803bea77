// A read-only memory mapping of a whole file that keeps weight bytes alive.
#ifndef STOCHA_ENGINE_FORMAT_MAPPED_FILE_H_
#define STOCHA_ENGINE_FORMAT_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/model.h"

namespace stocha {

// Thread-safety: immutable after Open; the bytes may be read from any thread.
// An empty file is valid and maps nothing (bytes() is empty).
class MappedFile : public WeightStorage {
 public:
  // NotFound if `path` does not exist; InvalidArgument for a directory; the error
  // message always names the path.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile() override;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  absl::Span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

  // madvise(MADV_DONTNEED) on the whole pages of [data, data + bytes) when they lie in
  // this mapping: the mapping is private and never written, so a later read faults the
  // same bytes in again from the file (or the page cache, which the kernel may reclaim).
  bool ReleasePages(const void* data, size_t bytes) const override;

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_MAPPED_FILE_H_
