// Weight buffers on transparent huge pages, where the kernel allows them.
#ifndef STOCHA_ENGINE_MODEL_HUGE_PAGE_BUFFER_H_
#define STOCHA_ENGINE_MODEL_HUGE_PAGE_BUFFER_H_

#include <cstddef>
#include <cstdint>

namespace stocha {

// An anonymous, zero-filled mapping. From 2 MiB up it is 2 MiB-aligned and advised
// MADV_HUGEPAGE: the sparse FFN reads scattered 2–6 KB weight rows, and with 4 KB pages
// nearly every row costs a TLB miss (Debian's default THP mode is "madvise", so without
// the advice nothing gets huge pages). Throws std::bad_alloc when the mapping fails, as
// operator new does. Thread-safety: the buffer is plain memory; moving is not thread-safe.
class HugePageBuffer {
 public:
  HugePageBuffer() = default;
  explicit HugePageBuffer(size_t bytes);
  ~HugePageBuffer();
  HugePageBuffer(HugePageBuffer&& o) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& o) noexcept;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void Release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;  // what the caller asked for
  void* map_ = nullptr;
  size_t mapped_ = 0;  // what was mapped (rounded up, aligned)
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_MODEL_HUGE_PAGE_BUFFER_H_
