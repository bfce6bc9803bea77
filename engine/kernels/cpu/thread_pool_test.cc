// The thread pool: every part once, barrier under stress, nesting, one pool per thread;
// and the kernels that use it give the same bits at 1, 2 and 3 threads.
#include "engine/kernels/cpu/thread_pool.h"

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "engine/kernels/cpu/ffn_kernels.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/transposed_weights.h"
#include "engine/model/dtype.h"
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

// Big enough that every kernel goes parallel (>= 2^20 multiply-adds).
struct Bf16Matrix {
  std::vector<uint16_t> h;
  Tensor t;
};

Bf16Matrix Random(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.5f);
  Bf16Matrix m;
  m.h.resize(rows * cols);
  for (uint16_t& v : m.h) v = F32ToBF16(nd(rng));
  m.t.dtype = DType::kBF16;
  m.t.shape = {rows, cols};
  m.t.data = m.h.data();
  return m;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(ThreadedKernelsTest, SameBitsAtOneTwoThreeThreads) {
  constexpr int64_t D = 1040, F = 1500;  // not multiples of the thread counts
  const Bf16Matrix up = Random(F, D, 1), down = Random(D, F, 2);
  const TransposedMatrix down_t = TransposedMatrix::Of(down.t, 1);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t T : {1, 3}) {
    std::vector<float> x(T * D), h(T * F);
    for (float& v : x) v = u(rng);
    for (float& v : h) v = u(rng) > 0.6f ? u(rng) : 0.0f;  // ~20% active
    std::vector<int32_t> active(F);
    const int64_t n = CollectNonZero(h.data(), F, active.data());
    std::vector<float> mm_ref(T * F), dot_ref(n), axpy_ref(T * D);
    MatMulReference(x.data(), T, up.t, nullptr, mm_ref.data());
    DotRowsReference(x.data(), up.t, active.data(), n, dot_ref.data());
    AxpyRowsReference(h.data(), T, down_t.tensor, active.data(), n, axpy_ref.data());
    for (int threads : {1, 2, 3}) {
      std::vector<float> mm(T * F), dot(n), axpy(T * D, -1.0f);
      MatMul(x.data(), T, up.t, nullptr, mm.data(), threads);
      DotRows(x.data(), up.t, active.data(), n, dot.data(), threads);
      AxpyRows(h.data(), T, down_t.tensor, active.data(), n, axpy.data(), threads);
      EXPECT_TRUE(SameBits(mm, mm_ref)) << "MatMul T=" << T << " threads=" << threads;
      EXPECT_TRUE(SameBits(dot, dot_ref)) << "DotRows T=" << T << " threads=" << threads;
      EXPECT_TRUE(SameBits(axpy, axpy_ref)) << "AxpyRows T=" << T << " threads=" << threads;
    }
  }
}

}  // namespace
}  // namespace stocha
