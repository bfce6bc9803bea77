// Software prefetch of weight rows: a whole row in one burst (portable kernels) or a
// fixed distance ahead in a stream of rows (AVX2 row kernels).
#ifndef STOCHA_ENGINE_KERNELS_CPU_PREFETCH_H_
#define STOCHA_ENGINE_KERNELS_CPU_PREFETCH_H_

#include <cstdint>

#include "engine/kernels/cpu/clones.h"

namespace stocha {

// Asks for `bytes` starting at `p` to be brought into the cache: the portable kernels'
// prefetch, the whole next row before computing this one.
STOCHA_INLINE void PrefetchBytes(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, /*rw=*/0, /*locality=*/0);
}

// Software prefetch for a stream of weight rows (the AVX2 row kernels). A kernel reading
// rows one after another asks, while it computes with byte b of the current row, for the byte
// kPrefetchDistance further on in the stream: first later in this row, then at the start of the
// next row, wherever that lies (the scattered rows of the sparse path). Measured on this project's
// AMD EPYC (docs/PERFORMANCE.md): BF16 rows at 16-18 GB/s on one core with the distance at
// 1.5 KB, 12-14 GB/s with no prefetch or with whole rows requested in one burst (the
// hardware prefetchers do not cross 4 KB pages and a burst of 64 requests stalls).
inline constexpr int64_t kPrefetchDistance = 1536;

// The distance for each of `streams` rows read side by side (the decode GEMV's weight rows):
// the pass asks for kPrefetchDistance bytes ahead in all, a 64-byte multiple per stream.
// Each row kPrefetchDistance ahead was too much: F16 decode with six rows per pass at 256
// bytes per row against 1536, one thread 7.44 -> 8.28 tok/s, two 11.97 -> 12.73
// (docs/PERFORMANCE.md, "Six weight rows per pass, one prefetch lead").
constexpr int64_t PassPrefetchDistance(int streams) {
  const int64_t d = kPrefetchDistance / (streams > 0 ? streams : 1) / 64 * 64;
  return d > 64 ? d : 64;
}

// Where to prefetch for each element of one row: element i asks for address
// (i < split ? a : b) + i * element_size. Addresses are integers because b usually lies
// outside any object; a prefetch never faults.
struct RowPrefetch {
  uintptr_t a = 0;
  uintptr_t b = 0;
  int64_t split = 0;
};

// The prefetch plan for reading `row` (row_bytes long, elements of esize bytes) when
// `next` is the row read after it (nullptr: none; the last row of a stream), `distance`
// bytes ahead.
STOCHA_INLINE RowPrefetch PlanPrefetch(const void* row, const void* next, int64_t row_bytes,
                                       int64_t esize, int64_t distance = kPrefetchDistance) {
  const int64_t dist = row_bytes < distance ? row_bytes : distance;
  RowPrefetch p;
  p.a = reinterpret_cast<uintptr_t>(row) + static_cast<uintptr_t>(dist);
  p.split = (row_bytes - dist) / esize;
  // At element `split` the stream continues at next + (split * esize + dist - row_bytes).
  const uintptr_t n = reinterpret_cast<uintptr_t>(next != nullptr ? next : row);
  p.b = n + static_cast<uintptr_t>(dist) - static_cast<uintptr_t>(row_bytes);
  return p;
}

STOCHA_INLINE void PrefetchAt(const RowPrefetch& p, int64_t i, int64_t esize) {
  const uintptr_t base = i < p.split ? p.a : p.b;
  // An integer address on purpose: the stream may run past the row's end, where pointer
  // arithmetic would be undefined; a prefetch of any address is harmless.
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  __builtin_prefetch(reinterpret_cast<const void*>(base + static_cast<uintptr_t>(i * esize)),
                     /*rw=*/0, /*locality=*/3);
}

// PrefetchAt for each multiple of 64 in the byte range [from, to) of a row planned with esize 1:
// a kernel reading blocks of any size (18 bytes for Q4_0, 34 for Q8_0) asks for each cache line
// of the stream once, as it reads the block holding that line's offset.
STOCHA_INLINE void PrefetchSpan(const RowPrefetch& p, int64_t from, int64_t to) {
  for (int64_t o = (from + 63) & ~int64_t{63}; o < to; o += 64) PrefetchAt(p, o, 1);
}

// One block of `bytes` (at byte `at` of a row planned with esize 1) asked for with one choice
// of segment and three prefetches bytes / 3 apart: every line of the stream is asked for when
// bytes / 3 <= 64 (the K super-blocks: 144 and 176 bytes), where PrefetchAt per line would
// choose the segment each time.
STOCHA_INLINE void PrefetchBlock(const RowPrefetch& p, int64_t at, int64_t bytes) {
  const uintptr_t base = (at < p.split ? p.a : p.b) + static_cast<uintptr_t>(at);
  for (int64_t o = 0; o < bytes; o += bytes / 3) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): as in PrefetchAt.
    __builtin_prefetch(reinterpret_cast<const void*>(base + static_cast<uintptr_t>(o)), 0, 3);
  }
}

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_PREFETCH_H_
