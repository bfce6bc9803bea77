// ServingStats: step and request reports folded into counters and histograms.
#include "server/serving_stats.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"

namespace stocha::server {
namespace {

// LLM latencies span a 1 ms decode step to minutes of queueing and long generations.
const std::vector<double> kQueueBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5,   1,     2.5,  5,     10,   30,  60};
const std::vector<double> kTtftBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                          1,     2.5,  5,     10,   30,  60};
const std::vector<double> kTpotBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.075, 0.1,    0.25,  0.5,  1};
const std::vector<double> kE2eBuckets = {0.01, 0.05, 0.1, 0.25, 0.5, 1,  2.5,
                                         5,    10,   30,  60,   120, 300};
const std::vector<double> kLengthBuckets = {1,    4,    16,   64,   128,   256,   512,
                                            1024, 2048, 4096, 8192, 16384, 32768, 131072};
const std::vector<double> kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256};
const std::vector<double> kStepTokenBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048};
const std::vector<double> kStepSecondBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                0.05,   0.1,   0.25,   0.5,   1,    2.5};
const std::vector<double> kDensityBuckets = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5,
                                             0.6,  0.7, 0.8, 0.9, 1.0};

// {"event":"request","id":...,"rpc":...,"code":...,...}: joins with the metrics by rpc and
// code, with the client by id. Sparsity over all layers, as the response reports it.
std::string RequestJson(const RequestReport& r, int ffn_dim) {
  int64_t pz = 0, pt = 0, gz = 0, gt = 0;
  if (r.stats != nullptr) {
    for (const LayerStats& l : r.stats->layers) {
      pz += l.prompt_zeros;
      pt += l.prompt_tokens;
      gz += l.generated_zeros;
      gt += l.generated_tokens;
    }
  }
  auto ms = [](std::optional<absl::Duration> d) {
    return d.has_value() ? absl::StrFormat("%.3f", absl::ToDoubleMilliseconds(*d))
                         : std::string("null");
  };
  std::string id;  // ids are client strings: escape what JSON needs
  for (unsigned char c : r.request_id) {
    if (c == '"' || c == '\\') {
      id += '\\';
      id += static_cast<char>(c);
    } else if (c < 0x20) {
      id += absl::StrFormat("\\u%04x", c);
    } else {
      id += static_cast<char>(c);
    }
  }
  return absl::StrFormat(
      "{\"event\":\"request\",\"id\":\"%s\",\"rpc\":\"%s\",\"code\":\"%s\",\"n\":%d,"
      "\"activation\":\"%s\",\"prompt_tokens\":%d,\"completion_tokens\":%d,\"queued_ms\":%s,"
      "\"ttft_ms\":%s,\"total_ms\":%.3f,\"prompt_sparsity\":%.6f,\"generated_sparsity\":%.6f}\n",
      id, RpcName(r.rpc), StatusCodeName(static_cast<int>(r.code)), r.n, r.activation,
      r.prompt_tokens, r.completion_tokens, ms(r.queued), ms(r.time_to_first_token),
      absl::ToDoubleMilliseconds(r.total), StepStats::Sparsity(pz, pt, ffn_dim),
      StepStats::Sparsity(gz, gt, ffn_dim));
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds(std::move(upper_bounds)), counts(bounds.size() + 1, 0) {}

void Histogram::Observe(double v) {
  const size_t i = std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
  ++counts[i];  // bucket i: bounds[i-1] < v <= bounds[i] ("le" semantics)
  sum += v;
  ++count;
}

ServingHistograms::ServingHistograms()
    : queue_seconds(kQueueBuckets),
      ttft_seconds(kTtftBuckets),
      tpot_seconds(kTpotBuckets),
      e2e_seconds(kE2eBuckets),
      prompt_tokens(kLengthBuckets),
      generated_tokens(kLengthBuckets),
      batch_inputs(kBatchBuckets),
      step_tokens(kStepTokenBuckets),
      step_seconds(kStepSecondBuckets),
      ffn_union_density(kDensityBuckets) {}

ServingStats::ServingStats(int num_layers, int ffn_dim, bool log_requests)
    : ffn_dim_(ffn_dim), log_requests_(log_requests) {
  s_.layers.resize(static_cast<size_t>(std::max(num_layers, 0)));
}

void ServingStats::OnStep(const StepReport& step) {
  std::lock_guard<std::mutex> lock(mu_);
  ServingHistograms& h = s_.histograms;
  h.batch_inputs.Observe(step.inputs);
  h.step_tokens.Observe(static_cast<double>(step.tokens));
  h.step_seconds.Observe(absl::ToDoubleSeconds(step.duration));
  const int64_t F = ffn_dim_;
  for (size_t i = 0; i < step.per_input.size() && i < step.activation.size(); ++i) {
    const int a = static_cast<int>(step.activation[i]);
    const std::vector<LayerStats>& in = step.per_input[i].layers;
    for (size_t l = 0; l < in.size() && l < s_.layers.size(); ++l) {
      LayerCounters& c = s_.layers[l];
      c.zeros[0][a] += in[l].prompt_zeros;
      c.total[0][a] += in[l].prompt_tokens * F;
      c.zeros[1][a] += in[l].generated_zeros;
      c.total[1][a] += in[l].generated_tokens * F;
    }
  }
  if (step.stats == nullptr) return;
  const std::vector<LayerStats>& layers = step.stats->layers;
  for (size_t l = 0; l < layers.size() && l < s_.layers.size(); ++l) {
    const LayerStats& ls = layers[l];
    LayerCounters& c = s_.layers[l];
    c.attention_seconds += ls.attention_seconds;
    c.ffn_seconds += ls.ffn_seconds;
    c.predictor_calls += ls.predictor_calls;
    c.sparse_calls += ls.sparse_calls - ls.predictor_calls;
    c.dense_calls += ls.ffn_calls - ls.sparse_calls;
    if (ls.ffn_calls > 0 && F > 0) {
      h.ffn_union_density.Observe(static_cast<double>(ls.union_active) /
                                  static_cast<double>(ls.ffn_calls * F));
    }
  }
}

void ServingStats::OnRequestDone(const RequestReport& r) {
  if (log_requests_ && r.rpc != Rpc::kOther) {  // kOther: the warm-up, not a call
    const std::string line = RequestJson(r, ffn_dim_);
    (void)!write(STDERR_FILENO, line.data(), line.size());  // one write: lines stay whole
  }
  std::lock_guard<std::mutex> lock(mu_);
  ServingHistograms& h = s_.histograms;
  if (r.queued.has_value()) h.queue_seconds.Observe(absl::ToDoubleSeconds(*r.queued));
  if (r.time_to_first_token.has_value()) {
    h.ttft_seconds.Observe(absl::ToDoubleSeconds(*r.time_to_first_token));
  }
  if (r.code != absl::StatusCode::kOk) return;
  s_.samples += static_cast<uint64_t>(r.n);
  h.e2e_seconds.Observe(absl::ToDoubleSeconds(r.total));
  h.prompt_tokens.Observe(r.prompt_tokens);
  h.generated_tokens.Observe(r.completion_tokens);
  if (r.time_to_first_token.has_value() && r.max_sample_tokens > 1) {
    h.tpot_seconds.Observe(absl::ToDoubleSeconds(r.total - *r.time_to_first_token) /
                           (r.max_sample_tokens - 1));
  }
}

ServingSnapshot ServingStats::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return s_;
}

}  // namespace stocha::server
