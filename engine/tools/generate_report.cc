// Formats a generation for people (text) and for scripts (JSON).
#include "engine/tools/generate_report.h"

#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace stocha {
namespace {

double Sparsity(int64_t zeros, int64_t tokens, int f) {
  return StepStats::Sparsity(zeros, tokens, f);
}

}  // namespace

std::string ReportText(const ReportInput& in) {
  std::string out;
  const auto& samples = in.result.samples;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples.size() > 1) {
      out += absl::StrFormat("--- sample %d (%s, %d tokens) ---\n", i,
                             FinishReasonName(samples[i].finish), samples[i].tokens.size());
    }
    out += in.prompt + samples[i].text + "\n";
  }
  const StepStats& s = in.result.stats;
  out += absl::StrFormat("\nactivation %s; FFN sparsity (exact zeros / (tokens x %d)):\n",
                         ActivationToString(in.activation), s.ffn_dim);
  out += absl::StrFormat("%5s %14s %14s %10s %10s\n", "layer", "prompt", "generated", "attn ms",
                         "ffn ms");
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const LayerStats& ls = s.layers[l];
    out += absl::StrFormat("%5d %13.1f%% %13.1f%% %10.2f %10.2f\n", l,
                           100 * Sparsity(ls.prompt_zeros, ls.prompt_tokens, s.ffn_dim),
                           100 * Sparsity(ls.generated_zeros, ls.generated_tokens, s.ffn_dim),
                           1e3 * ls.attention_seconds, 1e3 * ls.ffn_seconds);
  }
  int64_t generated = 0;
  for (const SampleOutput& o : samples) generated += static_cast<int64_t>(o.tokens.size());
  out += absl::StrFormat("prompt %d tokens in %.3f s; %d generated in %.3f s (%.1f tok/s)\n",
                         in.result.prompt_tokens, in.result.prefill_seconds, generated,
                         in.result.decode_seconds,
                         in.result.decode_seconds > 0 ? generated / in.result.decode_seconds : 0.0);
  return out;
}

std::string ReportJson(const ReportInput& in) {
  using nlohmann::json;
  json j;
  j["model"] = in.model_path;
  j["prompt"] = in.prompt;
  j["prompt_tokens"] = in.request.prompt;
  j["activation"] = ActivationToString(in.activation);
  j["seed"] = in.request.sampling.seed;
  json samples = json::array();
  int64_t generated = 0;
  for (const SampleOutput& o : in.result.samples) {
    json lp = json::array();
    for (const SampleResult& r : o.logprobs) {
      json top = json::array();
      for (const TokenLogprob& t : r.top)
        top.push_back({{"token", t.token}, {"logprob", t.logprob}});
      lp.push_back({{"token", r.token}, {"logprob", r.logprob}, {"top", top}});
    }
    // Invalid UTF-8 cannot appear: StreamDecoder replaces it.
    samples.push_back({{"text", o.text},
                       {"tokens", o.tokens},
                       {"finish_reason", FinishReasonName(o.finish)},
                       {"logprobs", lp}});
    generated += static_cast<int64_t>(o.tokens.size());
  }
  j["samples"] = samples;
  const StepStats& s = in.result.stats;
  json layers = json::array();
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const LayerStats& ls = s.layers[l];
    layers.push_back(
        {{"layer", l},
         {"prompt_tokens", ls.prompt_tokens},
         {"prompt_sparsity", Sparsity(ls.prompt_zeros, ls.prompt_tokens, s.ffn_dim)},
         {"generated_tokens", ls.generated_tokens},
         {"generated_sparsity", Sparsity(ls.generated_zeros, ls.generated_tokens, s.ffn_dim)},
         {"attention_seconds", ls.attention_seconds},
         {"ffn_seconds", ls.ffn_seconds}});
  }
  j["sparsity"] = {{"ffn_dim", s.ffn_dim}, {"layers", layers}};
  j["timings"] = {{"load_seconds", in.load_seconds},
                  {"prefill_seconds", in.result.prefill_seconds},
                  {"decode_seconds", in.result.decode_seconds},
                  {"generated_tokens", generated},
                  {"tokens_per_second",
                   in.result.decode_seconds > 0 ? generated / in.result.decode_seconds : 0.0}};
  return j.dump(2) + "\n";
}

}  // namespace stocha
