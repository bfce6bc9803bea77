// The thread pool: every part once, barrier under stress, nesting, one pool per thread.
// Also built with ThreadSanitizer (scripts/test-tsan.sh): it links no OpenMP.
#include "engine/kernels/cpu/thread_pool.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace stocha {
namespace {

TEST(ThreadPoolTest, RunsEveryPartOnceOnItsThread) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    for (int parts : {1, 2, 3, 7, 64}) {
      std::vector<std::atomic<int>> calls(parts);
      std::vector<std::thread::id> ran_on(parts);
      pool.Run(parts, [&](int p) {
        calls[p].fetch_add(1);
        ran_on[p] = std::this_thread::get_id();
      });
      for (int p = 0; p < parts; ++p) {
        EXPECT_EQ(calls[p].load(), 1) << threads << " threads, part " << p << " of " << parts;
        // Parts p and p + size() share a thread; part 0 is the caller's.
        if (p >= threads) {
          EXPECT_EQ(ran_on[p], ran_on[p - threads]);
        }
      }
      EXPECT_EQ(ran_on[0], std::this_thread::get_id());
    }
  }
}

TEST(ThreadPoolTest, BarrierHoldsOverManyRuns) {
  // Each run writes slots that the next run reads: a part starting before the previous
  // run's parts all finished, or a run returning early, shows up as a wrong value.
  ThreadPool pool(3);
  std::vector<int64_t> a(3, 0), b(3, 0);
  for (int i = 0; i < 5000; ++i) {
    pool.Run(3, [&](int p) { a[p] = b[(p + 1) % 3] + 1; });
    pool.Run(3, [&](int p) { b[p] = a[(p + 2) % 3] + 1; });
  }
  for (int p = 0; p < 3; ++p) EXPECT_EQ(b[p], 10000);
}

TEST(ThreadPoolTest, SleepingWorkersWakeUp) {
  ThreadPool pool(2);
  std::atomic<int> sum{0};
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // workers go to the futex
    pool.Run(2, [&](int p) { sum.fetch_add(p + 1); });
  }
  EXPECT_EQ(sum.load(), 9);
}

TEST(ThreadPoolTest, NestedRunIsSerial) {
  ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.Run(2, [&](int) { RunParallel(2, 4, [&](int) { inner.fetch_add(1); }); });
  EXPECT_EQ(inner.load(), 8);
}

TEST(ThreadPoolTest, OnePoolPerCallingThread) {
  std::atomic<int64_t> total{0};
  auto use = [&] {
    for (int i = 0; i < 500; ++i) {
      RunParallel(2, 2, [&](int p) { total.fetch_add(p + 1); });
    }
  };
  std::thread t1(use), t2(use);
  t1.join();
  t2.join();
  EXPECT_EQ(total.load(), 2 * 500 * 3);
  EXPECT_NE(&ThreadPool::ForThisThread(2), nullptr);
  EXPECT_EQ(ThreadPool::ForThisThread(3).size(), 3);  // re-created for a new count
}

TEST(SplitRangeTest, CoversAlignedAndBalanced) {
  for (int64_t n : {0, 1, 15, 16, 17, 1000, 2048}) {
    for (int parts : {1, 2, 3, 5}) {
      for (int64_t align : {1, 16}) {
        int64_t expect = 0;
        for (int p = 0; p < parts; ++p) {
          int64_t b = 0, e = 0;
          SplitRange(n, parts, align, p, &b, &e);
          EXPECT_EQ(b, expect);
          EXPECT_LE(e - b, (n / align / parts + 1) * align);
          if (e < n) {
            EXPECT_EQ(e % align, 0);
          }
          expect = e;
        }
        EXPECT_EQ(expect, n);
      }
    }
  }
}

}  // namespace
}  // namespace stocha
