// Persistent worker threads: spin briefly on a generation counter, then futex-wait.
#include "engine/kernels/cpu/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "engine/cpu_budget.h"

namespace stocha {
namespace {

thread_local bool in_part = false;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until `pred` holds or ~50 µs passed; true if it holds. Short enough that a worker
// between two layers' kernels (a few µs apart) never sleeps, long enough not to burn a
// core while the engine waits for requests. After the first few hundred pauses it yields:
// with more runnable threads than cores (a loaded host), the thread being waited for may
// need this core.
template <typename Pred>
bool SpinFor(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
  for (int i = 0;; ++i) {
    if (pred()) return true;
    if (i < 512) {
      CpuRelax();
      continue;
    }
    std::this_thread::yield();
    if (std::chrono::steady_clock::now() > deadline) return pred();
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) : size_(std::max(threads, 1)) {
  workers_.reserve(size_ - 1);
  for (int i = 0; i < size_ - 1; ++i) workers_.emplace_back([this, i] { Work(i + 1); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Work(int index) {
  uint32_t seen = 0;
  for (;;) {
    if (!SpinFor([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;  // spurious wake-ups re-check
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_relaxed)) return;
    in_part = true;
    for (int p = index; p < parts_; p += size()) (*job_)(p);
    in_part = false;
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

void ThreadPool::Run(int parts, absl::FunctionRef<void(int)> fn) {
  if (parts <= 1 || size() == 1 || in_part) {
    for (int p = 0; p < parts; ++p) fn(p);
    return;
  }
  job_ = &fn;
  parts_ = parts;
  // Every worker acknowledges every generation, idle ones too: once pending_ is 0 no worker
  // still reads job_ or parts_, so the next Run may overwrite them.
  pending_.store(size() - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);  // publishes job_ and parts_
  generation_.notify_all();
  in_part = true;
  for (int p = 0; p < parts; p += size()) fn(p);
  in_part = false;
  for (;;) {
    if (SpinFor([&] { return pending_.load(std::memory_order_acquire) == 0; })) break;
    const int left = pending_.load(std::memory_order_acquire);
    if (left == 0) break;
    pending_.wait(left, std::memory_order_acquire);
  }
}

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  static const int budget = DefaultCpuBudget().threads;  // reads files: once
  return budget;
}

ThreadPool& ThreadPool::ForThisThread(int threads) {
  thread_local std::unique_ptr<ThreadPool> pool;
  threads = ResolveThreads(threads);
  if (pool == nullptr || pool->size() != threads) {
    pool.reset();  // joins the old workers first
    pool = std::make_unique<ThreadPool>(threads);
  }
  return *pool;
}

void RunParallel(int threads, int parts, absl::FunctionRef<void(int)> fn) {
  if (parts <= 1 || threads == 1 || in_part) {
    for (int p = 0; p < parts; ++p) fn(p);
    return;
  }
  ThreadPool::ForThisThread(threads).Run(parts, fn);
}

void SplitRange(int64_t n, int parts, int64_t align, int p, int64_t* begin, int64_t* end) {
  const int64_t units = (n + align - 1) / align;
  const int64_t base = units / parts, extra = units % parts;
  const int64_t u0 = p * base + std::min<int64_t>(p, extra);
  const int64_t u1 = u0 + base + (p < extra ? 1 : 0);
  *begin = std::min(n, u0 * align);
  *end = std::min(n, u1 * align);
}

}  // namespace stocha
