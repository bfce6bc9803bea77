// A persistent pool of compute threads with a cheap fork/join for the decode path.
#ifndef STOCHA_ENGINE_KERNELS_CPU_THREAD_POOL_H_
#define STOCHA_ENGINE_KERNELS_CPU_THREAD_POOL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"

namespace stocha {

// `size() - 1` worker threads plus the calling thread. Run(parts, fn) calls fn(p) for every
// p in [0, parts) exactly once and returns when all have returned. Parts are claimed, not
// assigned: each thread (the caller too) takes the next unclaimed part from one atomic
// counter until none is left, so a thread that runs slower (a vCPU whose sibling is busy,
// one descheduled for a while) simply takes fewer parts. Which thread runs a part is not
// fixed: scratch belongs to a part, never to a thread. Split the work into several parts
// per thread (PartsForBytes) so the threads finish within one part of each other; a fixed
// 50/50 split waits on the slower thread (docs/PERFORMANCE.md, "Claiming parts").
//
// Why not OpenMP: a decode step issues ~8 small kernels per layer; libgomp's fork/join
// per kernel spent ~19% of a 2-thread decode in its barrier (docs/PERFORMANCE.md). Here a
// dispatch is one atomic increment that workers spinning briefly see at once; a worker that
// spun ~50 µs in vain sleeps on a futex (std::atomic::wait), so an idle engine costs nothing.
//
// Thread safety: Run() may be called by one thread at a time (the owner); fn must not
// throw. A Run() from inside a part (nesting) runs its parts serially on that thread.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }
  void Run(int parts, absl::FunctionRef<void(int)> fn);

  // The calling thread's own pool with `threads` threads (0: ResolveThreads(0)),
  // created on first use and re-created when the count changes; it lives as long as the
  // thread. One pool per calling thread, so two engines on two threads never share one.
  static ThreadPool& ForThisThread(int threads);

 private:
  void Work();
  void Claim();  // runs unclaimed parts of the current job until none is left

  // A cache line, so that the claim counter, which every thread writes once per part, shares
  // its line with nothing else (false sharing would slow the spinning workers' reads).
  static constexpr size_t kCacheLine = 64;

  const int size_;
  std::vector<std::thread> workers_;
  const absl::FunctionRef<void(int)>* job_ = nullptr;  // published by generation_
  int parts_ = 0;
  alignas(kCacheLine) std::atomic<int> next_part_{0};  // the next part to claim
  alignas(kCacheLine) std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

// fn(p) for p in [0, parts) on the calling thread's pool of `threads` threads (0: all),
// parts claimed as in ThreadPool::Run; serially where parts or threads is 1, or inside a
// part of an enclosing Run.
void RunParallel(int threads, int parts, absl::FunctionRef<void(int)> fn);

// How many parts to split a kernel reading `bytes` into on `threads` (resolved) threads:
// one per kPartBytes, at least `threads`, at most kPartsPerThread per thread; 1 at one
// thread. Why these sizes: a claim is one atomic increment on a line the other thread
// wrote last, ~0.1-0.2 µs; a 256 KiB part takes ~25 µs at one thread's ~10 GB/s, so
// claiming costs < 1%. Sixteen parts a thread leave the threads at most one part (~1/16
// of a thread's share) apart at the end, where a fixed split left them apart by the whole
// difference in their speeds (~15% measured, docs/PERFORMANCE.md).
inline constexpr int64_t kPartBytes = int64_t{256} << 10;
inline constexpr int kPartsPerThread = 16;
int PartsForBytes(int threads, int64_t bytes);

// threads > 0 ? threads : DefaultCpuBudget().threads (engine/cpu_budget.h).
int ResolveThreads(int threads);

// Splits [0, n) into `parts` contiguous ranges whose boundaries are multiples of `align`
// (except n): range p is [*begin, *end). Ranges differ by at most one `align` unit.
void SplitRange(int64_t n, int parts, int64_t align, int p, int64_t* begin, int64_t* end);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_THREAD_POOL_H_
