// The thread pool: every part once (claimed, uneven), barrier under stress, nesting, one pool
// per thread.
// Also built with ThreadSanitizer (scripts/test-tsan.sh): it links no OpenMP.
#include "engine/kernels/cpu/thread_pool.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace stocha {
namespace {

TEST(ThreadPoolTest, RunsEveryPartOnce) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    for (int parts : {1, 2, 3, 7, 64}) {
      std::vector<std::atomic<int>> calls(parts);
      pool.Run(parts, [&](int p) { calls[p].fetch_add(1); });
      for (int p = 0; p < parts; ++p) {
        EXPECT_EQ(calls[p].load(), 1) << threads << " threads, part " << p << " of " << parts;
      }
    }
  }
}

TEST(ThreadPoolTest, UnevenPartsRunOnceEach) {
  // One part sleeps while the others are claimed around it: each still runs exactly once,
  // and none is left behind when Run returns.
  for (int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    constexpr int kParts = 48;
    std::vector<std::atomic<int>> calls(kParts);
    pool.Run(kParts, [&](int p) {
      if (p == 5) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      calls[p].fetch_add(1);
    });
    for (int p = 0; p < kParts; ++p) EXPECT_EQ(calls[p].load(), 1) << threads << " threads";
  }
}

TEST(ThreadPoolTest, SlowThreadLeavesTheRestToTheOther) {
  // The first thread to claim a part stalls in it until every other part is done (or 10 s
  // pass): with claiming, the other thread takes all of them; with a fixed assignment
  // (part p on thread p % 2) it would wait out the deadline with half of them unrun.
  ThreadPool pool(2);
  constexpr int kParts = 32;
  std::atomic<int> done{0};
  std::atomic<bool> stalled{false};
  std::thread::id slow;
  std::vector<std::thread::id> ran_on(kParts);
  pool.Run(kParts, [&](int p) {
    ran_on[p] = std::this_thread::get_id();
    if (!stalled.exchange(true)) {
      slow = std::this_thread::get_id();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (done.load() < kParts - 1 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
    done.fetch_add(1);
  });
  EXPECT_EQ(done.load(), kParts);
  int on_slow = 0;
  for (const std::thread::id& id : ran_on) on_slow += id == slow ? 1 : 0;
  EXPECT_EQ(on_slow, 1) << "the stalled thread ran " << on_slow << " parts of " << kParts;
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

TEST(PartsForBytesTest, AtLeastTheThreadsAtMostSixteenEach) {
  EXPECT_EQ(PartsForBytes(1, int64_t{1} << 30), 1);
  EXPECT_EQ(PartsForBytes(2, 1000), 2);
  EXPECT_EQ(PartsForBytes(2, 10 * kPartBytes), 10);
  EXPECT_EQ(PartsForBytes(2, int64_t{1} << 30), 2 * kPartsPerThread);
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
