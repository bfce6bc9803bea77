// stocha-generate: run a model from the command line (the engine alone, no server).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "engine/format/load_model.h"
#include "engine/generate.h"
#include "engine/model/weight_types.h"
#include "engine/step/predictor.h"
#include "engine/tools/device_flag.h"
#include "engine/tools/flag_aliases.h"
#include "engine/tools/generate_report.h"
#include "engine/tools/program_usage.h"

// One spelling per flag, the server's and stocha-cli's (docs/API.md); the old spellings
// in kAliases below still work.
ABSL_FLAG(std::string, model, "",
          "HF directory (config.json + model.safetensors), .gguf file, or llama2.c .bin "
          "checkpoint (required)");
ABSL_FLAG(std::string, tokenizer, "",
          "Tokenizer file where the format keeps it apart (llama2.c tokenizer.bin); HF and "
          "GGUF models carry their own");
ABSL_FLAG(std::string, prompt, "", "Prompt text; none or empty starts from BOS");
ABSL_FLAG(std::string, activation, "",
          "relu | silu | stocha | stocha:P (default: the model's own default)");
ABSL_FLAG(int, n, 1, "Independent samples of one prompt, prefilled once");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the sampler and of StochA draws");
ABSL_FLAG(float, temperature, 1.0f, "0 = greedy");
ABSL_FLAG(int, top_k, 0, "Keep the K most likely tokens, 0 = off");
ABSL_FLAG(float, top_p, 1.0f, "Nucleus sampling in (0, 1], 1 = off");
ABSL_FLAG(float, repetition_penalty, 1.0f, "Divide positive logits of seen tokens by R");
ABSL_FLAG(float, frequency_penalty, 0.0f, "Subtract F x count of generated occurrences");
ABSL_FLAG(float, presence_penalty, 0.0f, "Subtract P once per generated token type");
ABSL_FLAG(int, max_new_tokens, 256, "New tokens per sample (capped by the context)");
ABSL_FLAG(std::vector<std::string>, stop, {},
          "Stop strings, comma-separated (as stocha-cli's); never part of the output");
ABSL_FLAG(int, logprobs, 0, "With --json: top-N alternatives per token, 0..20");
ABSL_FLAG(int, threads, 0,
          "Compute threads, 0 = the CPUs this process may use (affinity, cgroup quota)");
ABSL_FLAG(bool, deterministic, false, "Batch-invariant results (fixed reduction order per row)");
ABSL_FLAG(bool, int8_activations, false,
          "Block-typed weights (Q8_0, Q4_0, K types): quantize each product's activations to 8 "
          "bits and sum integer products (faster, approximate; docs/ENGINE.md)");
ABSL_FLAG(bool, bf16, false, "Hold weights in BF16 in memory (converted at load)");
ABSL_FLAG(std::string, quantize, "",
          "q8_0 | q4_0: quantize the matrices in memory at load (HF, llama2.c); rows not a "
          "multiple of 32 keep F16");
ABSL_FLAG(std::string, predictor, "",
          "Predictor mode (approximate; ReLU rows only): skip the gate rows of neurons a "
          "fitted predictor (stocha-predictor fit) ranks low");
ABSL_FLAG(float, predictor_density, 0.1f, "Fraction of neurons whose gate is computed");
ABSL_FLAG(bool, json, false, "One JSON object instead of text");

namespace stocha {
namespace {

constexpr char kUsage[] = R"(Runs a model with the stocha engine (no server).

  stocha-generate --model=PATH [--prompt=TEXT] [flags]

Prints the samples, then a per-layer table of FFN activation sparsity (or one JSON
object with --json). Old spellings still accepted: --max-tokens (--max_new_tokens),
--samples (--n), --top-k, --top-p, --repetition-penalty, --frequency-penalty,
--presence-penalty, --predictor-density (the same names with underscores).)";

const std::vector<FlagAlias> kAliases = {{"max-tokens", "max_new_tokens"},
                                         {"samples", "n"},
                                         {"top-k", "top_k"},
                                         {"top-p", "top_p"},
                                         {"repetition-penalty", "repetition_penalty"},
                                         {"frequency-penalty", "frequency_penalty"},
                                         {"presence-penalty", "presence_penalty"},
                                         {"predictor-density", "predictor_density"}};

// What one run of the program does, from the flags.
struct GenerateToolOptions {
  std::string model, tokenizer, prompt, activation, predictor;
  float predictor_density = 0.1f;
  bool json = false, deterministic = false, bf16 = false, int8_activations = false;
  int threads = 0;
  Device device;                  // --device, parsed
  bool cuda_graphs = true;        // --cuda_graphs
  std::optional<DType> quantize;  // --quantize, parsed
  GenerateRequest request;
};

[[noreturn]] void Fail(const std::string& msg) {
  std::fprintf(stderr, "stocha-generate: %s\n", msg.c_str());
  std::exit(2);
}

GenerateToolOptions OptionsFromFlags() {
  GenerateToolOptions f;
  f.model = absl::GetFlag(FLAGS_model);
  f.tokenizer = absl::GetFlag(FLAGS_tokenizer);
  f.prompt = absl::GetFlag(FLAGS_prompt);
  f.activation = absl::GetFlag(FLAGS_activation);
  f.predictor = absl::GetFlag(FLAGS_predictor);
  f.predictor_density = absl::GetFlag(FLAGS_predictor_density);
  f.json = absl::GetFlag(FLAGS_json);
  if (const std::string q = absl::GetFlag(FLAGS_quantize); !q.empty()) {
    absl::StatusOr<DType> type = ParseQuantizeFlag(q);
    if (!type.ok()) Fail(std::string(type.status().message()));
    f.quantize = *type;
  }
  f.deterministic = absl::GetFlag(FLAGS_deterministic);
  f.bf16 = absl::GetFlag(FLAGS_bf16);
  f.int8_activations = absl::GetFlag(FLAGS_int8_activations);
  f.threads = absl::GetFlag(FLAGS_threads);
  absl::StatusOr<Device> device = DeviceFromFlag();
  if (!device.ok()) Fail(std::string(device.status().message()));
  f.device = *device;
  std::string graphs_note;
  f.cuda_graphs = CudaGraphsFromFlag(f.device, &graphs_note);
  if (!graphs_note.empty()) std::fprintf(stderr, "stocha-generate: %s\n", graphs_note.c_str());
  f.request.num_samples = absl::GetFlag(FLAGS_n);
  f.request.max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  f.request.stop_strings = absl::GetFlag(FLAGS_stop);
  SamplingParams& s = f.request.sampling;
  s.seed = absl::GetFlag(FLAGS_seed);
  s.temperature = absl::GetFlag(FLAGS_temperature);
  s.top_k = absl::GetFlag(FLAGS_top_k);
  s.top_p = absl::GetFlag(FLAGS_top_p);
  s.repetition_penalty = absl::GetFlag(FLAGS_repetition_penalty);
  s.frequency_penalty = absl::GetFlag(FLAGS_frequency_penalty);
  s.presence_penalty = absl::GetFlag(FLAGS_presence_penalty);
  s.top_logprobs = absl::GetFlag(FLAGS_logprobs);
  if (f.model.empty()) Fail("--model is required (see --help)");
  if (f.request.num_samples < 1) Fail("--n must be >= 1");
  if (f.request.max_new_tokens < 0) Fail("--max_new_tokens must be >= 0");
  if (f.threads < 0) Fail("--threads must be >= 0");
  if (!(f.predictor_density > 0 && f.predictor_density <= 1)) {
    Fail("--predictor_density must be in (0, 1]");
  }
  if (absl::Status st = ValidateSamplingParams(s); !st.ok()) Fail(std::string(st.message()));
  return f;
}

int Run(const GenerateToolOptions& f) {
  LoadOptions lo;
  lo.tokenizer_path = f.tokenizer;
  if (f.bf16) lo.convert_weights_to = DType::kBF16;
  lo.quantize = f.quantize;
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
  eo.device = f.device;
  eo.cuda_graphs = f.cuda_graphs;
  eo.num_threads = f.threads;
  eo.deterministic = f.deterministic;
  if (f.int8_activations) eo.activation_format = ActivationFormat::kInt8;
  if (!f.predictor.empty()) {
    absl::StatusOr<std::shared_ptr<const ActivityPredictor>> p =
        ActivityPredictor::Load(f.predictor, (*model)->config());
    if (!p.ok()) Fail(std::string(p.status().message()));
    eo.ffn.predictor = *p;
    eo.ffn.predictor_density = f.predictor_density;
  }
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*model, eo);
  if (!engine.ok()) Fail(std::string(engine.status().message()));
  if (f.device.kind != Device::Kind::kCpu) {
    std::fprintf(stderr, "stocha-generate: engine on %s\n", (*engine)->backend().c_str());
  }
  absl::StatusOr<GenerateResult> result = Generate(**engine, tok, req);
  if (!result.ok()) Fail(std::string(result.status().message()));
  const ActivationSpec act = req.activation.value_or((*model)->config().DefaultActivation());
  ReportInput in{f.model, f.prompt, act, req, *result, load_seconds, tok};
  std::fputs((f.json ? ReportJson(in) : ReportText(in)).c_str(), stdout);
  return 0;
}

}  // namespace
}  // namespace stocha

int main(int argc, char** argv) {
  stocha::SetProgramUsage(stocha::kUsage, "tools/stocha_generate.cc");
  stocha::AliasedArgv args(argc, argv, stocha::kAliases);
  const std::vector<char*> positional = absl::ParseCommandLine(args.argc(), args.argv());
  if (positional.size() > 1) {
    stocha::Fail(std::string("unexpected argument '") + positional[1] + "' (see --help)");
  }
  return stocha::Run(stocha::OptionsFromFlags());
}
