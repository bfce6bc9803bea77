// Unit tests of the load generator's statistics: nearest-rank percentiles, rates, error
// counts and time per output token, on inputs small enough to work out by hand.
#include "client/latency_stats.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stocha::client {
namespace {

CallResult Ok(double total_ms, double ttft_ms, int tokens, int prompt_computed = 0) {
  CallResult r;
  r.total_ms = total_ms;
  r.ttft_ms = ttft_ms;
  r.completion_tokens = tokens;
  r.prompt_tokens_computed = prompt_computed;
  return r;
}

CallResult Failed(const std::string& code, double total_ms = 1000, int tokens = 0) {
  CallResult r = Ok(total_ms, total_ms / 2, tokens, 5);
  r.code = code;
  return r;
}

// Exact expected values, worked out by hand in each test.
void ExpectSummary(const Distribution& d, int count, double p50, double p90, double p99,
                   double mean, double max) {
  EXPECT_EQ(d.count, count);
  EXPECT_EQ(d.p50, p50);
  EXPECT_EQ(d.p90, p90);
  EXPECT_EQ(d.p99, p99);
  EXPECT_EQ(d.mean, mean);
  EXPECT_EQ(d.max, max);
}

// Nearest rank: the q-quantile of N sorted values is the value of rank ceil(q * N), 1-based.

TEST(SummarizeTest, EmptyIsAllZero) {
  std::vector<double> v;
  const Distribution d = Summarize(v);
  ExpectSummary(d, 0, 0, 0, 0, 0, 0);
}

TEST(SummarizeTest, OneSampleIsEveryPercentile) {
  std::vector<double> v = {7.5};
  const Distribution d = Summarize(v);
  ExpectSummary(d, 1, 7.5, 7.5, 7.5, 7.5, 7.5);
}

TEST(SummarizeTest, TwoSamples) {
  // p50: rank ceil(1.0) = 1 -> 10; p90: ceil(1.8) = 2 -> 20; p99: ceil(1.98) = 2 -> 20.
  std::vector<double> v = {20, 10};
  const Distribution d = Summarize(v);
  ExpectSummary(d, 2, 10, 20, 20, 15, 20);
}

TEST(SummarizeTest, TenUnsortedValues) {
  // Sorted 1..10. p50: rank 5 -> 5; p90: rank 9 -> 9; p99: rank ceil(9.9) = 10 -> 10.
  std::vector<double> v = {7, 3, 10, 1, 9, 2, 8, 5, 6, 4};
  const Distribution d = Summarize(v);
  ExpectSummary(d, 10, 5, 9, 10, 5.5, 10);
  // Documented: sorted in place.
  EXPECT_EQ(v, (std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(SummarizeTest, HundredValues) {
  // 100, 99, ..., 1: p50 rank 50 -> 50, p90 rank 90 -> 90, p99 rank 99 -> 99.
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) {
    v.push_back(i);
  }
  const Distribution d = Summarize(v);
  ExpectSummary(d, 100, 50, 90, 99, 50.5, 100);
}

TEST(SummarizeTest, Ties) {
  // Sorted {2, 2, 2, 5}: p50 rank 2 -> 2; p90 rank ceil(3.6) = 4 -> 5; p99 rank 4 -> 5.
  std::vector<double> v = {2, 5, 2, 2};
  const Distribution d = Summarize(v);
  EXPECT_EQ(d.p50, 2);
  EXPECT_EQ(d.p90, 5);
  EXPECT_EQ(d.p99, 5);
  EXPECT_EQ(d.mean, 2.75);
  EXPECT_EQ(d.max, 5);

  std::vector<double> same(7, 3.25);
  const Distribution s = Summarize(same);
  ExpectSummary(s, 7, 3.25, 3.25, 3.25, 3.25, 3.25);
}

TEST(SummarizeTest, OneOutlierShowsOnlyInTheTailAndTheMean) {
  // 19 values of 1 and one of 100: p50 rank 10 -> 1, p90 rank 18 -> 1, p99 rank
  // ceil(19.8) = 20 -> 100; mean (19 + 100) / 20 = 5.95.
  std::vector<double> v(19, 1.0);
  v.push_back(100);
  const Distribution d = Summarize(v);
  EXPECT_EQ(d.p50, 1);
  EXPECT_EQ(d.p90, 1);
  EXPECT_EQ(d.p99, 100);
  EXPECT_DOUBLE_EQ(d.mean, 5.95);
  EXPECT_EQ(d.max, 100);
}

TEST(ComputeTest, NoResults) {
  const RunStats s = Compute({}, 1.0);
  EXPECT_EQ(s.wall_s, 1.0);
  EXPECT_EQ(s.ok, 0);
  EXPECT_TRUE(s.errors.empty());
  EXPECT_EQ(s.requests_per_s, 0);
  EXPECT_EQ(s.tokens_per_s, 0);
  EXPECT_EQ(s.completion_tokens, 0);
  EXPECT_EQ(s.total_ms.count, 0);
  EXPECT_EQ(s.ttft_ms.count, 0);
  EXPECT_EQ(s.tpot_ms.count, 0);
}

TEST(ComputeTest, RatesOverWallTime) {
  // 4 calls of 10, 20, 30 and 40 tokens in 2 s: 2 req/s, 50 tok/s.
  const std::vector<CallResult> results = {Ok(100, 10, 10, 5), Ok(200, 10, 20, 5),
                                           Ok(300, 10, 30, 5), Ok(400, 10, 40, 0)};
  const RunStats s = Compute(results, 2.0);
  EXPECT_EQ(s.wall_s, 2.0);
  EXPECT_EQ(s.ok, 4);
  EXPECT_TRUE(s.errors.empty());
  EXPECT_EQ(s.completion_tokens, 100);
  EXPECT_EQ(s.prompt_tokens_computed, 15);
  EXPECT_EQ(s.requests_per_s, 2.0);
  EXPECT_EQ(s.tokens_per_s, 50.0);
  EXPECT_EQ(s.total_ms.count, 4);
  EXPECT_EQ(s.total_ms.p50, 200);
  EXPECT_EQ(s.total_ms.p90, 400);
  EXPECT_EQ(s.total_ms.mean, 250);
}

TEST(ComputeTest, ZeroWallTimeGivesZeroRatesNotInfinity) {
  const RunStats s = Compute({Ok(1, 0.5, 3)}, 0.0);
  EXPECT_EQ(s.ok, 1);
  EXPECT_EQ(s.requests_per_s, 0);
  EXPECT_EQ(s.tokens_per_s, 0);
}

TEST(ComputeTest, ErrorsCountByStatusCodeAndStayOutOfEverythingElse) {
  // 2 OK calls (100 ms / 10 tokens, 300 ms / 30 tokens) and 5 failures that carry
  // latencies and even tokens (a stream cut by its deadline): none of that is counted.
  const std::vector<CallResult> results = {
      Failed("RESOURCE_EXHAUSTED", 1), Ok(100, 20, 10, 4), Failed("DEADLINE_EXCEEDED", 5000, 7),
      Failed("RESOURCE_EXHAUSTED", 2), Ok(300, 30, 30, 6), Failed("RESOURCE_EXHAUSTED", 3),
      Failed("UNAVAILABLE", 4)};
  const RunStats s = Compute(results, 4.0);
  EXPECT_EQ(s.ok, 2);
  const std::map<std::string, int> expected = {
      {"DEADLINE_EXCEEDED", 1}, {"RESOURCE_EXHAUSTED", 3}, {"UNAVAILABLE", 1}};
  EXPECT_EQ(s.errors, expected);
  EXPECT_EQ(s.completion_tokens, 40);
  EXPECT_EQ(s.prompt_tokens_computed, 10);
  EXPECT_EQ(s.requests_per_s, 0.5);  // OK calls only: 2 in 4 s
  EXPECT_EQ(s.tokens_per_s, 10.0);   // 40 tokens in 4 s
  EXPECT_EQ(s.total_ms.count, 2);
  EXPECT_EQ(s.total_ms.p50, 100);
  EXPECT_EQ(s.total_ms.max, 300);
  EXPECT_EQ(s.ttft_ms.count, 2);
  EXPECT_EQ(s.ttft_ms.p50, 20);
  EXPECT_EQ(s.ttft_ms.max, 30);
}

TEST(ComputeTest, OnlyErrors) {
  const RunStats s = Compute({Failed("INVALID_ARGUMENT"), Failed("INVALID_ARGUMENT")}, 1.0);
  EXPECT_EQ(s.ok, 0);
  EXPECT_EQ(s.errors, (std::map<std::string, int>{{"INVALID_ARGUMENT", 2}}));
  EXPECT_EQ(s.requests_per_s, 0);
  EXPECT_EQ(s.tokens_per_s, 0);
  EXPECT_EQ(s.total_ms.count, 0);
}

TEST(ComputeTest, TimePerOutputToken) {
  // (total - ttft) / (tokens - 1): (100 - 10) / 9 = 10 and (250 - 50) / 4 = 50.
  const RunStats s = Compute({Ok(100, 10, 10), Ok(250, 50, 5)}, 1.0);
  EXPECT_EQ(s.tpot_ms.count, 2);
  EXPECT_EQ(s.tpot_ms.p50, 10);
  EXPECT_EQ(s.tpot_ms.p99, 50);
  EXPECT_EQ(s.tpot_ms.mean, 30);
}

TEST(ComputeTest, OneTokenHasATtftButNoTimePerOutputToken) {
  const RunStats s = Compute({Ok(40, 40, 1), Ok(100, 10, 10)}, 1.0);
  EXPECT_EQ(s.ttft_ms.count, 2);
  EXPECT_EQ(s.ttft_ms.p50, 10);
  EXPECT_EQ(s.ttft_ms.max, 40);
  EXPECT_EQ(s.tpot_ms.count, 1);
  EXPECT_EQ(s.tpot_ms.p50, 10);
}

TEST(ComputeTest, UnaryCallsHaveNoTtftOrTimePerOutputToken) {
  // Generate answers once: ttft < 0, so only the total latency is known.
  const RunStats s = Compute({Ok(80, -1, 16), Ok(120, -1, 16)}, 1.0);
  EXPECT_EQ(s.ok, 2);
  EXPECT_EQ(s.completion_tokens, 32);
  EXPECT_EQ(s.total_ms.count, 2);
  EXPECT_EQ(s.total_ms.mean, 100);
  EXPECT_EQ(s.ttft_ms.count, 0);
  EXPECT_EQ(s.tpot_ms.count, 0);
}

TEST(ComputeTest, MultiSampleTimePerOutputTokenIsPerSample) {
  // 3 samples of 11 tokens advance together: 33 tokens in all, but each reader sees a new
  // token every (130 - 10) / (11 - 1) = 12 ms, not every 120 / 32 = 3.75 ms.
  CallResult r = Ok(130, 10, 33);
  r.samples = 3;
  const RunStats s = Compute({r}, 1.0);
  EXPECT_EQ(s.completion_tokens, 33);
  EXPECT_EQ(s.tpot_ms.count, 1);
  EXPECT_EQ(s.tpot_ms.p50, 12);

  // One token per sample: no interval between tokens to measure.
  CallResult one = Ok(50, 10, 4);
  one.samples = 4;
  EXPECT_EQ(Compute({one}, 1.0).tpot_ms.count, 0);
}

}  // namespace
}  // namespace stocha::client
