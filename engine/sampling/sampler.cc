// The sampler: logit processing in a fixed order, then an inverse-CDF draw.
#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"

namespace stocha {
namespace {

void ApplyPenalties(const SamplingParams& p, absl::Span<const int> history,
                    absl::Span<const int> generated, std::vector<float>& logits) {
  const int V = static_cast<int>(logits.size());
  if (p.repetition_penalty != 1.0f) {
    std::vector<char> seen(V, 0);
    for (int t : history) {
      if (t >= 0 && t < V && !seen[t]) {
        seen[t] = 1;
        logits[t] =
            logits[t] > 0 ? logits[t] / p.repetition_penalty : logits[t] * p.repetition_penalty;
      }
    }
  }
  if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    absl::flat_hash_map<int, int> counts;
    for (int t : generated) {
      if (t >= 0 && t < V) ++counts[t];
    }
    for (const auto& [t, n] : counts) {
      logits[t] -= p.frequency_penalty * static_cast<float>(n) + p.presence_penalty;
    }
  }
}

// log Σ exp(logits): exp in float, the sum in double.
float LogSumExp(absl::Span<const float> logits) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float l : logits) sum += std::exp(l - max);
  return max + static_cast<float>(std::log(sum));
}

int Argmax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Inverse-CDF draw over ids[0..n) in that order (ids == nullptr: 0..n-1) with weights
// prob[id]; `coin` in [0, 1).
int Draw(const std::vector<float>& prob, const int* ids, int n, float coin) {
  auto id = [&](int i) { return ids != nullptr ? ids[i] : i; };
  double mass = 0.0;
  for (int i = 0; i < n; ++i) mass += prob[id(i)];
  const double target = static_cast<double>(coin) * mass;
  double cdf = 0.0;
  int last = id(0);
  for (int i = 0; i < n; ++i) {
    const double q = prob[id(i)];
    if (q <= 0.0) continue;
    cdf += q;
    last = id(i);
    if (target < cdf) return last;
  }
  return last;  // rounding left target at the total: the last token with weight
}

// Temperature, then top-k (the k largest logits, ties by lower id) and top-p (the fewest
// of those, in descending order, whose probability renormalised over the k reaches top_p),
// then an inverse-CDF draw in descending order. Without a filter the draw runs over the
// ids in ascending order: O(V), no sort (a full sort per token took 40% of a busy server).
// With top-p only a growing prefix of the candidates is sorted.
int DrawFiltered(const SamplingParams& p, const std::vector<float>& logits, float coin) {
  const int V = static_cast<int>(logits.size());
  const float max = *std::max_element(logits.begin(), logits.end());
  std::vector<float> prob(V);  // exp in float (vectorisable), sums in double
  for (int i = 0; i < V; ++i) prob[i] = std::exp((logits[i] - max) / p.temperature);
  const int k = p.top_k > 0 ? std::min(p.top_k, V) : V;
  if (k == V && p.top_p >= 1.0f) return Draw(prob, nullptr, V, coin);

  std::vector<int> ids(V);
  std::iota(ids.begin(), ids.end(), 0);
  auto by_logit = [&](int a, int b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (k < V) std::nth_element(ids.begin(), ids.begin() + (k - 1), ids.end(), by_logit);
  if (p.top_p >= 1.0f) {
    std::sort(ids.begin(), ids.begin() + k, by_logit);
    return Draw(prob, ids.data(), k, coin);
  }
  double total = 0.0;  // the k candidates' mass
  for (int i = 0; i < k; ++i) total += prob[ids[i]];
  // Sort the best 64 candidates, then the next 192, 768, ... (each block selected from
  // the rest in linear time), until the sorted prefix's mass reaches top_p.
  double cum = 0.0;
  for (int lo = 0, n = std::min(k, 64);; lo = n, n = std::min(k, n * 4)) {
    if (n < k) std::nth_element(ids.begin() + lo, ids.begin() + (n - 1), ids.begin() + k, by_logit);
    std::sort(ids.begin() + lo, ids.begin() + n, by_logit);
    for (int i = lo; i < n; ++i) {
      cum += prob[ids[i]] / total;
      if (cum >= p.top_p) return Draw(prob, ids.data(), i + 1, coin);
    }
    if (n == k) return Draw(prob, ids.data(), k, coin);  // rounding kept cum just below
  }
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& p) {
  auto bad = [](const char* field, float v, const char* want) {
    return absl::InvalidArgumentError(absl::StrFormat("%s = %g: must be %s", field, v, want));
  };
  if (!(p.temperature >= 0.0f) || std::isinf(p.temperature)) {
    return bad("temperature", p.temperature, ">= 0");
  }
  if (p.top_k < 0) return bad("top_k", static_cast<float>(p.top_k), ">= 0");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return bad("top_p", p.top_p, "in (0, 1]");
  if (!(p.repetition_penalty > 0.0f) || std::isinf(p.repetition_penalty)) {
    return bad("repetition_penalty", p.repetition_penalty, "> 0");
  }
  if (!(p.frequency_penalty >= 0.0f) || std::isinf(p.frequency_penalty)) {
    return bad("frequency_penalty", p.frequency_penalty, ">= 0");
  }
  if (!(p.presence_penalty >= 0.0f) || std::isinf(p.presence_penalty)) {
    return bad("presence_penalty", p.presence_penalty, ">= 0");
  }
  if (p.top_logprobs < 0 || p.top_logprobs > kMaxTopLogprobs) {
    return bad("top_logprobs", static_cast<float>(p.top_logprobs), "in [0, 20]");
  }
  return absl::OkStatus();
}

SampleResult Sample(const SamplingParams& p, absl::Span<const float> logits,
                    absl::Span<const int> history, absl::Span<const int> generated,
                    const RngKey& key) {
  std::vector<float> l(logits.begin(), logits.end());
  ApplyPenalties(p, history, generated, l);
  SampleResult r;
  r.token = p.temperature == 0.0f ? Argmax(l) : DrawFiltered(p, l, UniformFloat(key, 0));
  // Log-softmax of the raw logits, computed only where reported.
  const float lse = LogSumExp(logits);
  auto lp = [&](int t) { return logits[t] - lse; };
  r.logprob = lp(r.token);
  if (p.top_logprobs > 0) {
    std::vector<int> ids(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
    const int n = std::min<int>(p.top_logprobs, static_cast<int>(ids.size()));
    std::partial_sort(ids.begin(), ids.begin() + n, ids.end(),
                      [&](int a, int b) { return lp(a) > lp(b) || (lp(a) == lp(b) && a < b); });
    for (int i = 0; i < n; ++i) r.top.push_back({ids[i], lp(ids[i])});
  }
  return r;
}

}  // namespace stocha
