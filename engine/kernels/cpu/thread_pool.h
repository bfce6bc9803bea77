// A persistent pool of compute threads with a cheap fork/join for the decode path.
#ifndef STOCHA_ENGINE_KERNELS_CPU_THREAD_POOL_H_
#define STOCHA_ENGINE_KERNELS_CPU_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"

namespace stocha {

// `size() - 1` worker threads plus the calling thread. Run(parts, fn) calls fn(p) for every
// p in [0, parts) and returns when all have returned; part p runs on thread p % size()
// (thread 0 is the caller), so a split of the work into parts is a fixed assignment.
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
  void Work(int index);

  const int size_;
  std::vector<std::thread> workers_;
  const absl::FunctionRef<void(int)>* job_ = nullptr;  // published by generation_
  int parts_ = 0;
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

// fn(p) for p in [0, parts) on the calling thread's pool of `threads` threads (0: all);
// serially where parts or threads is 1, or inside a part of an enclosing Run.
void RunParallel(int threads, int parts, absl::FunctionRef<void(int)> fn);

// threads > 0 ? threads : DefaultCpuBudget().threads (engine/cpu_budget.h).
int ResolveThreads(int threads);

// Splits [0, n) into `parts` contiguous ranges whose boundaries are multiples of `align`
// (except n): range p is [*begin, *end). Ranges differ by at most one `align` unit.
void SplitRange(int64_t n, int parts, int64_t align, int p, int64_t* begin, int64_t* end);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_THREAD_POOL_H_
