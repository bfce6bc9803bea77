// The sampler: logit processing in a fixed order, then an inverse-CDF draw.
#include "engine/sampler.h"

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

std::vector<float> LogSoftmax(absl::Span<const float> logits) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - max));
  const float lse = max + static_cast<float>(std::log(sum));
  std::vector<float> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - lse;
  return out;
}

int Argmax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Candidates sorted by logit (descending, ties by id), cut by top-k and top-p.
int DrawFiltered(const SamplingParams& p, const std::vector<float>& logits, float coin) {
  const int V = static_cast<int>(logits.size());
  std::vector<int> ids(V);
  std::iota(ids.begin(), ids.end(), 0);
  const int k = p.top_k > 0 ? std::min(p.top_k, V) : V;
  auto by_logit = [&](int a, int b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), by_logit);
  ids.resize(k);
  std::vector<double> prob(k);
  const double max = logits[ids[0]];
  double sum = 0.0;
  for (int i = 0; i < k; ++i) {
    prob[i] = std::exp((logits[ids[i]] - max) / p.temperature);
    sum += prob[i];
  }
  int keep = k;
  if (p.top_p < 1.0f) {
    double cum = 0.0;
    for (int i = 0; i < k; ++i) {
      cum += prob[i] / sum;
      if (cum >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0.0;
  for (int i = 0; i < keep; ++i) kept += prob[i];
  const double target = static_cast<double>(coin) * kept;
  double cdf = 0.0;
  for (int i = 0; i < keep; ++i) {
    cdf += prob[i];
    if (target < cdf) return ids[i];
  }
  return ids[keep - 1];
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
  const std::vector<float> lp = LogSoftmax(logits);
  r.logprob = lp[r.token];
  if (p.top_logprobs > 0) {
    std::vector<int> ids(lp.size());
    std::iota(ids.begin(), ids.end(), 0);
    const int n = std::min<int>(p.top_logprobs, static_cast<int>(ids.size()));
    std::partial_sort(ids.begin(), ids.begin() + n, ids.end(),
                      [&](int a, int b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });
    for (int i = 0; i < n; ++i) r.top.push_back({ids[i], lp[ids[i]]});
  }
  return r;
}

}  // namespace stocha
