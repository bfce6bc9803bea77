// HugePageBuffer: mmap, align to 2 MiB, madvise(MADV_HUGEPAGE).
#include "engine/model/huge_page_buffer.h"

#include <sys/mman.h>

#include <new>
#include <utility>

namespace stocha {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

HugePageBuffer::HugePageBuffer(size_t bytes) : size_(bytes) {
  const bool huge = bytes >= kHugePage;
  const size_t len = huge ? RoundUp(bytes, kHugePage) : RoundUp(bytes == 0 ? 1 : bytes, 4096);
  // Map one huge page more than needed and trim both ends to a 2 MiB-aligned window.
  const size_t map_len = huge ? len + kHugePage : len;
  void* p = mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  auto* base = static_cast<uint8_t*>(p);
  if (huge) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(base);
    uint8_t* aligned = base + (RoundUp(addr, kHugePage) - addr);
    if (aligned > base) munmap(base, static_cast<size_t>(aligned - base));
    const size_t tail = map_len - static_cast<size_t>(aligned - base) - len;
    if (tail > 0) munmap(aligned + len, tail);
    base = aligned;
#ifdef MADV_HUGEPAGE
    (void)madvise(base, len, MADV_HUGEPAGE);  // advice only: 4 KB pages still work
#endif
  }
  map_ = base;
  mapped_ = len;
  data_ = base;
}

HugePageBuffer::~HugePageBuffer() { Release(); }

HugePageBuffer::HugePageBuffer(HugePageBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      map_(std::exchange(o.map_, nullptr)),
      mapped_(std::exchange(o.mapped_, 0)) {}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& o) noexcept {
  if (this != &o) {
    Release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    map_ = std::exchange(o.map_, nullptr);
    mapped_ = std::exchange(o.mapped_, 0);
  }
  return *this;
}

void HugePageBuffer::Release() {
  if (map_ != nullptr) munmap(map_, mapped_);
  map_ = nullptr;
  data_ = nullptr;
  size_ = mapped_ = 0;
}

}  // namespace stocha
