// stocha-generate: run a model from the command line (the engine alone, no server).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "engine/format/load_model.h"
#include "engine/generate.h"
#include "engine/predictor.h"
#include "engine/tools/generate_report.h"

namespace stocha {
namespace {

constexpr char kUsage[] = R"(Usage: stocha-generate --model PATH [flags]

Runs a model with the stocha engine and prints the samples, then a per-layer table of
FFN activation sparsity (or one JSON object with --json).

  --model PATH          HF directory (config.json + model.safetensors), .gguf file, or
                        llama2.c .bin checkpoint (required)
  --tokenizer PATH      tokenizer file where the format keeps it apart (llama2.c
                        tokenizer.bin); HF and GGUF models carry their own
  --prompt TEXT         prompt text; none or empty starts from BOS
  --activation MODE     relu | silu | stocha:P (default: the model's own default)
  --samples N           independent samples of one prompt, prefilled once (default 1)
  --seed S              seed of the sampler and of StochA draws (default 0)
  --temperature T       0 = greedy (default 1.0)
  --top-k K             keep the K most likely tokens, 0 = off (default 0)
  --top-p P             nucleus sampling in (0, 1], 1 = off (default 1.0)
  --repetition-penalty R  divide positive logits of seen tokens by R (default 1.0)
  --frequency-penalty F   subtract F x count of generated occurrences (default 0)
  --presence-penalty P    subtract P once per generated token type (default 0)
  --max-tokens N        new tokens per sample (default 256, capped by the context)
  --stop STR            stop string (repeatable); never part of the output
  --logprobs N          with --json: top-N alternatives per token, 0..20 (default 0)
  --threads N           compute threads, 0 = all cores (default 0)
  --deterministic       batch-invariant results (fixed reduction order per row)
  --bf16                hold weights in BF16 in memory (converted at load)
  --predictor PATH      predictor mode (approximate; ReLU rows only): skip the gate rows
                        of neurons a fitted predictor (stocha-predictor fit) ranks low
  --predictor-density D fraction of neurons whose gate is computed (default 0.1)
  --json                one JSON object instead of text
  --help                this text
)";

struct Flags {
  std::string model, tokenizer, prompt, activation, predictor;
  float predictor_density = 0.1f;
  bool json = false, deterministic = false, bf16 = false;
  int threads = 0;
  GenerateRequest request;
};

[[noreturn]] void Fail(const std::string& msg) {
  std::fprintf(stderr, "stocha-generate: %s\n", msg.c_str());
  std::exit(2);
}

template <typename T>
T Number(const std::string& flag, const std::string& v) {
  T out{};
  bool ok;
  if constexpr (std::is_same_v<T, float>)
    ok = absl::SimpleAtof(v, &out);
  else
    ok = absl::SimpleAtoi(v, &out);
  if (!ok) Fail(absl::StrFormat("%s: '%s' is not a valid number", flag, v));
  return out;
}

const absl::flat_hash_set<std::string> kValueFlags = {"--model",
                                                      "--tokenizer",
                                                      "--prompt",
                                                      "--activation",
                                                      "--samples",
                                                      "--seed",
                                                      "--temperature",
                                                      "--top-k",
                                                      "--top-p",
                                                      "--repetition-penalty",
                                                      "--frequency-penalty",
                                                      "--presence-penalty",
                                                      "--max-tokens",
                                                      "--stop",
                                                      "--logprobs",
                                                      "--threads",
                                                      "--predictor",
                                                      "--predictor-density"};

Flags Parse(int argc, char** argv) {
  Flags f;
  SamplingParams& s = f.request.sampling;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (a == "--json") {
      f.json = true;
      continue;
    }
    if (a == "--deterministic") {
      f.deterministic = true;
      continue;
    }
    if (a == "--bf16") {
      f.bf16 = true;
      continue;
    }
    if (auto eq = a.find('='); eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else {
      if (!kValueFlags.contains(a)) Fail("unknown flag '" + a + "' (see --help)");
      if (i + 1 >= argc) Fail(a + " needs a value (see --help)");
      v = argv[++i];
    }
    if (a == "--model")
      f.model = v;
    else if (a == "--tokenizer")
      f.tokenizer = v;
    else if (a == "--prompt")
      f.prompt = v;
    else if (a == "--activation")
      f.activation = v;
    else if (a == "--samples")
      f.request.num_samples = Number<int>(a, v);
    else if (a == "--seed")
      s.seed = Number<uint64_t>(a, v);
    else if (a == "--temperature")
      s.temperature = Number<float>(a, v);
    else if (a == "--top-k")
      s.top_k = Number<int>(a, v);
    else if (a == "--top-p")
      s.top_p = Number<float>(a, v);
    else if (a == "--repetition-penalty")
      s.repetition_penalty = Number<float>(a, v);
    else if (a == "--frequency-penalty")
      s.frequency_penalty = Number<float>(a, v);
    else if (a == "--presence-penalty")
      s.presence_penalty = Number<float>(a, v);
    else if (a == "--max-tokens")
      f.request.max_new_tokens = Number<int>(a, v);
    else if (a == "--stop")
      f.request.stop_strings.push_back(v);
    else if (a == "--logprobs")
      s.top_logprobs = Number<int>(a, v);
    else if (a == "--threads")
      f.threads = Number<int>(a, v);
    else if (a == "--predictor")
      f.predictor = v;
    else if (a == "--predictor-density")
      f.predictor_density = Number<float>(a, v);
    else
      Fail("unknown flag '" + a + "' (see --help)");
  }
  if (f.model.empty()) Fail("--model is required (see --help)");
  if (f.request.num_samples < 1) Fail("--samples must be >= 1");
  if (f.request.max_new_tokens < 0) Fail("--max-tokens must be >= 0");
  if (f.threads < 0) Fail("--threads must be >= 0");
  if (!(f.predictor_density > 0 && f.predictor_density <= 1)) {
    Fail("--predictor-density must be in (0, 1]");
  }
  if (absl::Status st = ValidateSamplingParams(s); !st.ok()) Fail(std::string(st.message()));
  return f;
}

int Run(const Flags& f) {
  LoadOptions lo;
  lo.tokenizer_path = f.tokenizer;
  if (f.bf16) lo.convert_weights_to = DType::kBF16;
  const auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<std::shared_ptr<const Model>> model = LoadModel(f.model, lo);
  if (!model.ok()) Fail(std::string(model.status().message()));
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Tokenizer* tok = (*model)->tokenizer();
  GenerateRequest req = f.request;
  if (!f.activation.empty()) {
    absl::StatusOr<ActivationSpec> act = ParseActivation(f.activation, (*model)->config().stocha.p);
    if (!act.ok()) Fail("--activation: " + std::string(act.status().message()));
    req.activation = *act;
  }
  if (tok == nullptr) Fail("the model has no tokenizer: pass --tokenizer PATH");
  absl::StatusOr<std::vector<int>> ids = tok->Encode(f.prompt, /*add_bos=*/true);
  if (!ids.ok()) Fail(std::string(ids.status().message()));
  req.prompt = *ids;
  if (req.prompt.empty()) req.prompt = {(*model)->config().bos_token_id};
  EngineOptions eo;
  eo.num_threads = f.threads;
  eo.deterministic = f.deterministic;
  if (!f.predictor.empty()) {
    absl::StatusOr<std::shared_ptr<const ActivityPredictor>> p =
        ActivityPredictor::Load(f.predictor, (*model)->config());
    if (!p.ok()) Fail(std::string(p.status().message()));
    eo.ffn.predictor = *p;
    eo.ffn.predictor_density = f.predictor_density;
  }
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*model, eo);
  if (!engine.ok()) Fail(std::string(engine.status().message()));
  absl::StatusOr<GenerateResult> result = Generate(**engine, tok, req);
  if (!result.ok()) Fail(std::string(result.status().message()));
  const ActivationSpec act = req.activation.value_or((*model)->config().DefaultActivation());
  ReportInput in{f.model, f.prompt, act, req, *result, load_seconds, tok};
  std::fputs((f.json ? ReportJson(in) : ReportText(in)).c_str(), stdout);
  return 0;
}

}  // namespace
}  // namespace stocha

int main(int argc, char** argv) { return stocha::Run(stocha::Parse(argc, argv)); }
