// stocha-predictor: fit the opt-in activity predictor on text, and measure what it costs.
//
//   stocha-predictor fit  --model=M --text=FILE --rank=R --out=P [--tokens=N]
//   stocha-predictor eval --model=M --text=FILE --predictor=P [--predictor_density=D]
//                         [--tokens=N]
//
// fit: runs the model (ReLU) over the text, accumulates each layer's FFN input moments
// and fits the rank-R predictor. eval: over held-out text, (1) how many of the truly
// active neurons the predictor's top-D·F set contains (recall), and (2) the mean
// next-token NLL with the exact sparse path vs predictor mode (the loss delta).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "engine/engine.h"
#include "engine/format/load_model.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/step/predictor.h"
#include "engine/tools/device_flag.h"
#include "engine/tools/flag_aliases.h"
#include "engine/tools/program_usage.h"

// The spellings of stocha-generate and the server where a flag is shared.
ABSL_FLAG(std::string, model, "", "Model: HF directory, .gguf file or llama2.c .bin (required)");
ABSL_FLAG(std::string, tokenizer, "", "Tokenizer file where the format keeps it apart (llama2.c)");
ABSL_FLAG(std::string, text, "", "Text file: calibration text (fit) or held-out text (eval)");
ABSL_FLAG(std::string, out, "", "fit: where to write the predictor");
ABSL_FLAG(std::string, predictor, "", "eval: the fitted predictor");
ABSL_FLAG(int, rank, 0, "fit: rank of the predictor, >= 1");
ABSL_FLAG(int, tokens, 4096, "Tokens of --text used (from its start)");
ABSL_FLAG(float, predictor_density, 0.1f,
          "eval: fraction of neurons the predictor selects (as stocha-generate's)");

namespace stocha {
namespace {

constexpr char kUsage[] = R"(Fits and evaluates the opt-in activity predictor (docs/SPARSE.md).

  stocha-predictor fit  --model=M --text=FILE --rank=R --out=P [--tokens=N]
  stocha-predictor eval --model=M --text=FILE --predictor=P [--predictor_density=D] [--tokens=N]

--tokenizer=PATH for llama2.c checkpoints. --density is an old spelling of
--predictor_density.)";

// One run of the program, from the command and the flags.
struct PredictorToolOptions {
  std::string command, model, tokenizer, text, out, predictor;
  int rank = 0;
  int tokens = 4096;
  float density = 0.1f;
};

[[noreturn]] void Fail(const std::string& msg) {
  std::fprintf(stderr, "stocha-predictor: %s\n", msg.c_str());
  std::exit(2);
}

PredictorToolOptions OptionsFromFlags(const std::vector<char*>& positional) {
  if (positional.size() != 2) Fail("one command: fit or eval (see --help)");
  PredictorToolOptions f;
  f.command = positional[1];
  if (f.command != "fit" && f.command != "eval") Fail("unknown command '" + f.command + "'");
  f.model = absl::GetFlag(FLAGS_model);
  f.tokenizer = absl::GetFlag(FLAGS_tokenizer);
  f.text = absl::GetFlag(FLAGS_text);
  f.out = absl::GetFlag(FLAGS_out);
  f.predictor = absl::GetFlag(FLAGS_predictor);
  f.rank = absl::GetFlag(FLAGS_rank);
  f.tokens = absl::GetFlag(FLAGS_tokens);
  f.density = absl::GetFlag(FLAGS_predictor_density);
  if (f.model.empty() || f.text.empty()) Fail("--model and --text are required");
  if (f.command == "fit" && (f.rank < 1 || f.out.empty())) Fail("fit needs --rank >= 1 and --out");
  if (f.command == "eval" && f.predictor.empty()) Fail("eval needs --predictor");
  if (!(f.density > 0 && f.density <= 1)) Fail("--predictor_density must be in (0, 1]");
  return f;
}

template <typename T>
T OrFail(absl::StatusOr<T> v) {
  if (!v.ok()) Fail(std::string(v.status().message()));
  return std::move(*v);
}

void OrFail(const absl::Status& s) {
  if (!s.ok()) Fail(std::string(s.message()));
}

// --device and --cuda_graphs; the rest of EngineOptions at its defaults.
EngineOptions DeviceOptions() {
  EngineOptions o;
  o.device = OrFail(DeviceFromFlag());
  std::string note;
  o.cuda_graphs = CudaGraphsFromFlag(o.device, &note);
  if (!note.empty()) std::fprintf(stderr, "stocha-predictor: %s\n", note.c_str());
  return o;
}

// The text's tokens, in windows of at most the context (each window starts with BOS).
std::vector<std::vector<int>> Windows(const Model& m, const std::string& path, int max_tokens) {
  std::ifstream in(path);
  if (!in) Fail(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<int> ids = OrFail(m.tokenizer()->Encode(ss.str(), false));
  if (static_cast<int>(ids.size()) > max_tokens) ids.resize(max_tokens);
  const int w = std::min(256, m.config().max_position_embeddings) - 1;
  std::vector<std::vector<int>> out;
  for (size_t i = 0; i < ids.size(); i += w) {
    std::vector<int> win = {m.config().bos_token_id};
    win.insert(win.end(), ids.begin() + i, ids.begin() + std::min(ids.size(), i + w));
    out.push_back(std::move(win));
  }
  return out;
}

const ActivationSpec kRelu{ActivationKind::kRelu, 0};

int Fit(const PredictorToolOptions& f, const std::shared_ptr<const Model>& m) {
  InputMoments moments(m->config().num_layers, m->config().hidden_size);
  auto e = OrFail(Engine::Create(m, DeviceOptions()));
  OrFail(e->SetFfnInputObserver([&](int l, const float* x, int64_t T) { moments.Add(l, x, T); }));
  int64_t n = 0;
  for (const auto& w : Windows(*m, f.text, f.tokens)) {
    SequenceId s = OrFail(e->AddSequence({kRelu}));
    OrFail(e->Step({StepInput{s, w, true, false}}));
    (void)e->RemoveSequence(s);
    n += static_cast<int64_t>(w.size());
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto p = OrFail(ActivityPredictor::Fit(*m, moments, f.rank));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (absl::Status st = p->Save(f.out); !st.ok()) Fail(std::string(st.message()));
  std::printf(
      "fitted rank %d on %lld tokens in %.1f s; %.1f%% of a gate matrix's bytes per layer;"
      " wrote %s\n",
      f.rank, static_cast<long long>(n), secs,
      100.0 * p->bytes_per_layer() /
          (4.0 * m->config().hidden_size * m->config().intermediate_size),
      f.out.c_str());
  return 0;
}

// Mean next-token NLL over the windows, one token per step.
double MeanNll(const std::shared_ptr<const Model>& m, const FfnOptions& fo,
               const std::vector<std::vector<int>>& windows) {
  EngineOptions o = DeviceOptions();
  o.ffn = fo;
  auto e = OrFail(Engine::Create(m, o));
  double nll = 0;
  int64_t n = 0;
  for (const auto& w : windows) {
    SequenceId s = OrFail(e->AddSequence({kRelu}));
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      auto out = OrFail(e->Step({StepInput{s, {w[i]}, false, true}}));
      const std::vector<float>& l = out.logits[0];
      const float mx = *std::max_element(l.begin(), l.end());
      double z = 0;
      for (float v : l) z += std::exp(static_cast<double>(v - mx));
      nll += std::log(z) + mx - l[w[i + 1]];
      ++n;
    }
    (void)e->RemoveSequence(s);
  }
  return nll / static_cast<double>(n);
}

int Eval(const PredictorToolOptions& f, const std::shared_ptr<const Model>& m) {
  auto p = OrFail(ActivityPredictor::Load(f.predictor, m->config()));
  const auto windows = Windows(*m, f.text, f.tokens);
  const ModelConfig& c = m->config();
  const int F = c.intermediate_size, k = static_cast<int>(std::lround(f.density * F));
  // Recall of the true active set, on the exact run's FFN inputs.
  std::vector<int64_t> active(c.num_layers), hit(c.num_layers);
  std::vector<float> gate(F), scratch(p->rank() + F);
  std::vector<int32_t> idx(k);
  auto e = OrFail(Engine::Create(m, DeviceOptions()));
  OrFail(e->SetFfnInputObserver([&](int l, const float* x, int64_t T) {
    const LayerWeights& lw = m->weights().layers[l];
    for (int64_t t = 0; t < T; ++t) {
      MatMul(x + t * c.hidden_size, 1, c.mlp_gated ? lw.w_gate : lw.w_up, nullptr, gate.data(), 0);
      p->Predict(l, x + t * c.hidden_size, k, idx.data(), scratch.data());
      for (float g : gate) active[l] += g > 0;
      for (int32_t i : idx) hit[l] += gate[i] > 0;
    }
  }));
  for (const auto& w : windows) {
    SequenceId s = OrFail(e->AddSequence({kRelu}));
    OrFail(e->Step({StepInput{s, w, true, false}}));
    (void)e->RemoveSequence(s);
  }
  std::printf("predictor rank %d, active set %d of %d neurons (%.0f%%)\n", p->rank(), k, F,
              100.0 * f.density);
  std::printf("| layer | true active | recall of active neurons |\n|---|---|---|\n");
  int64_t tokens = 0;
  for (const auto& w : windows) tokens += static_cast<int64_t>(w.size());
  for (int l = 0; l < c.num_layers; ++l) {
    std::printf("| %d | %.1f%% | %.1f%% |\n", l, 100.0 * active[l] / (tokens * F),
                100.0 * hit[l] / std::max<int64_t>(1, active[l]));
  }
  FfnOptions exact, predicted;
  predicted.predictor = p;
  predicted.predictor_density = f.density;
  const double a = MeanNll(m, exact, windows), b = MeanNll(m, predicted, windows);
  std::printf("mean NLL over %lld tokens: exact ReLU %.4f, predictor %.4f, delta %+.4f nats\n",
              static_cast<long long>(tokens), a, b, b - a);
  return 0;
}

}  // namespace
}  // namespace stocha

int main(int argc, char** argv) {
  using namespace stocha;  // NOLINT(google-build-using-namespace)
  stocha::SetProgramUsage(kUsage, "tools/stocha_predictor.cc");
  AliasedArgv args(argc, argv, {{"density", "predictor_density"}});
  const PredictorToolOptions f = OptionsFromFlags(absl::ParseCommandLine(args.argc(), args.argv()));
  LoadOptions lo;
  lo.tokenizer_path = f.tokenizer;
  auto m = OrFail(LoadModel(f.model, lo));
  if (m->tokenizer() == nullptr) Fail("the model has no tokenizer: pass --tokenizer");
  return f.command == "fit" ? Fit(f, m) : Eval(f, m);
}
