// peer_decode: stocha's side of the llama.cpp benchmark (bench/peer/run.py). Loads a GGUF,
// greedy-decodes K tokens after a prompt of token ids, and prints one JSON line with the
// tokens (and each one's top-2 logit margin), the decode time, the weight bytes a token
// reads, and the streaming-read probe at the same thread count.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/bandwidth_probe.h"
#include "engine/engine.h"
#include "engine/format/gguf.h"
#include "engine/format/load_model.h"
#include "engine/format/mapped_file.h"
#include "engine/model/weight_types.h"
#include "engine/step/predictor.h"
#include "engine/tools/program_usage.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, model, "", "GGUF file (required)");
ABSL_FLAG(int, threads, 1, "Compute threads (the engine's and the probe's)");
ABSL_FLAG(std::vector<std::string>, prompt_ids, {}, "Prompt token ids, comma-separated");
ABSL_FLAG(int, tokens, 64, "Tokens to generate (greedy; end-of-sequence does not stop)");
ABSL_FLAG(std::string, activation, "silu", "silu (dense, as llama.cpp) | relu");
ABSL_FLAG(double, sparsity, -1,
          "With relu: force this FFN sparsity in percent (as decode_bench), -1 = natural");
ABSL_FLAG(int, predictor_rank, 0,
          "With relu and --sparsity: choose the active FFN rows by a random low-rank predictor "
          "of this rank instead of the full gate (as decode_bench's predictor column), 0 = off");
ABSL_FLAG(std::string, quantize, "",
          "q8_0 | q4_0: quantize the file's non-block matrices at load (LoadOptions::quantize)");
ABSL_FLAG(bool, int8_activations, false,
          "Block-typed weights (Q8_0, Q4_0, K types): quantize each product's activations to 8 "
          "bits and sum integer products (faster, approximate; docs/ENGINE.md)");
ABSL_FLAG(double, probe_gib, 1, "Streaming-read probe buffer in GiB, 0 = no probe");

namespace stocha::bench {
namespace {

constexpr char kUsage[] = R"(stocha's side of bench/peer/run.py.

  peer_decode --model=F.gguf --threads=N --prompt_ids=1,403 --tokens=K
              [--activation=silu|relu] [--sparsity=90 [--predictor_rank=128]]
              [--int8_activations] [--probe_gib=1])";

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "peer_decode: %s\n", message.c_str());
  std::exit(2);
}

// Bytes of weights a dense decode step reads: every tensor, except that the embedding
// table costs one row when an untied output.weight is the classifier.
double WeightBytesPerToken(const std::string& path) {
  auto file = MappedFile::Open(path);
  if (!file.ok()) Fail(std::string(file.status().message()));
  auto gguf = ParseGguf((*file)->bytes(), path);
  if (!gguf.ok()) Fail(std::string(gguf.status().message()));
  double total = 0;
  for (const GgufTensorInfo& t : gguf->tensors) total += static_cast<double>(t.nbytes);
  const GgufTensorInfo* embed = gguf->FindTensor("token_embd.weight");
  if (gguf->FindTensor("output.weight") != nullptr && embed != nullptr && !embed->shape.empty()) {
    total -= static_cast<double>(embed->nbytes) * (1.0 - 1.0 / embed->shape[0]);
  }
  return total;
}

int Argmax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

// The largest logit minus the second largest: how far the greedy choice is from a tie
// (bench/peer/run.py accepts a divergence from llama.cpp only where this is small).
double TopTwoMargin(const std::vector<float>& v) {
  float first = -INFINITY, second = -INFINITY;
  for (const float x : v) {
    if (x > first) {
      second = first;
      first = x;
    } else if (x > second) {
      second = x;
    }
  }
  return static_cast<double>(first) - static_cast<double>(second);
}

double ProbeBytesPerSecond(double gib, int threads) {
  if (gib <= 0) return 0;
  omp_set_num_threads(threads);
  const BandwidthProbe probe(static_cast<size_t>(gib * (1 << 30)));
  std::vector<double> seconds;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    volatile float sink = probe.Read();
    (void)sink;
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  return static_cast<double>(probe.bytes()) / seconds[seconds.size() / 2];
}

int Run() {
  const std::string path = absl::GetFlag(FLAGS_model);
  const int threads = absl::GetFlag(FLAGS_threads), k = absl::GetFlag(FLAGS_tokens);
  std::vector<int> prompt;
  for (const std::string& s : absl::GetFlag(FLAGS_prompt_ids))
    prompt.push_back(std::atoi(s.c_str()));
  if (path.empty() || prompt.empty() || threads < 1 || k < 1) Fail("see --help");
  const std::string act = absl::GetFlag(FLAGS_activation);
  if (act != "silu" && act != "relu") Fail("--activation must be silu or relu");
  const double sparsity = absl::GetFlag(FLAGS_sparsity);
  if (sparsity >= 0 && (act != "relu" || sparsity >= 100)) Fail("--sparsity needs relu, < 100");
  const int predictor_rank = absl::GetFlag(FLAGS_predictor_rank);
  if (predictor_rank < 0 || (predictor_rank > 0 && sparsity < 0))
    Fail("--predictor_rank needs --sparsity, >= 0");

  LoadOptions lo;
  if (const std::string q = absl::GetFlag(FLAGS_quantize); !q.empty()) {
    absl::StatusOr<DType> type = ParseQuantizeFlag(q);
    if (!type.ok()) Fail(std::string(type.status().message()));
    lo.quantize = *type;
  }
  auto model = LoadModel(path, lo);
  if (!model.ok()) Fail(std::string(model.status().message()));
  EngineOptions eo;
  eo.num_threads = threads;
  eo.max_context = static_cast<int>(prompt.size()) + k + 8;
  const bool int8 = absl::GetFlag(FLAGS_int8_activations);
  if (int8) eo.activation_format = ActivationFormat::kInt8;
  const auto density = static_cast<float>(1 - sparsity / 100);
  if (predictor_rank > 0) {
    // Random predictor weights: the rows it picks are arbitrary, the bytes read are what a
    // trained predictor of this rank costs (its own matrices plus density·F rows of W_gate,
    // W_up and W_downᵀ per layer).
    const ModelConfig& c = (*model)->config();
    eo.ffn.predictor = ActivityPredictor::RandomForBenchmark(c.num_layers, c.hidden_size,
                                                             c.intermediate_size, predictor_rank);
    eo.ffn.predictor_density = density;
  } else if (sparsity >= 0) {
    eo.ffn.bench_force_density = density;
  }
  auto engine = Engine::Create(*model, eo);
  if (!engine.ok()) Fail(std::string(engine.status().message()));
  const ActivationSpec spec{act == "silu" ? ActivationKind::kSilu : ActivationKind::kRelu, 0};
  auto seq = (*engine)->AddSequence({spec});
  if (!seq.ok()) Fail(std::string(seq.status().message()));

  const auto t0 = std::chrono::steady_clock::now();
  auto out = (*engine)->Step({StepInput{*seq, prompt, true, true}});
  if (!out.ok()) Fail(std::string(out.status().message()));
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<int> generated = {Argmax(out->logits[0])};
  std::vector<double> margins = {TopTwoMargin(out->logits[0])};
  // As llama.cpp's "eval" counter: the K-1 single-token steps after the prompt. The engine's
  // own per-layer clocks split each step into attention blocks, FFN blocks and the rest
  // (embedding, final norm, LM head, the step's bookkeeping, this loop's argmax).
  double attention_s = 0, ffn_s = 0;
  while (static_cast<int>(generated.size()) < k) {
    out = (*engine)->Step({StepInput{*seq, {generated.back()}, false, true}});
    if (!out.ok()) Fail(std::string(out.status().message()));
    for (const LayerStats& l : out->stats.layers) {
      attention_s += l.attention_seconds;
      ffn_s += l.ffn_seconds;
    }
    generated.push_back(Argmax(out->logits[0]));
    margins.push_back(TopTwoMargin(out->logits[0]));
  }
  const auto t2 = std::chrono::steady_clock::now();
  const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
  const double decode_s = std::chrono::duration<double>(t2 - t1).count();
  const int steps = k - 1;
  nlohmann::json j = {
      {"tokens", generated},
      {"margins", margins},
      {"decode_s", decode_s},
      {"decode_steps", steps},
      {"decode_attention_s", attention_s},
      {"decode_ffn_s", ffn_s},
      {"tok_s", steps > 0 ? steps / decode_s : 0.0},
      {"prefill_s", prefill_s},
      {"weight_bytes_per_token", WeightBytesPerToken(path)},
      {"probe_bytes_per_s", ProbeBytesPerSecond(absl::GetFlag(FLAGS_probe_gib), threads)},
      {"threads", threads},
      {"activation", act},
      {"int8_activations", int8},
      {"sparsity", sparsity},
      {"predictor_rank", predictor_rank}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace stocha::bench

int main(int argc, char** argv) {
  stocha::SetProgramUsage(stocha::bench::kUsage, "bench/peer_decode.cc");
  absl::ParseCommandLine(argc, argv);
  return stocha::bench::Run();
}
