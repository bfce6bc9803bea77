// quant_accuracy: what storing a model's weights in F16/BF16/Q8_0/Q4_0 costs, against F32:
// logit error, greedy (top-1) agreement and perplexity on held-out text, and weight bytes.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "engine/engine.h"
#include "engine/format/gguf_export.h"
#include "engine/format/load_model.h"
#include "engine/kernels/cpu/int8_dot.h"
#include "engine/model/weight_types.h"
#include "engine/tools/program_usage.h"

ABSL_FLAG(std::string, model, "models/default", "Source model (loaded as stored: F32 here)");
ABSL_FLAG(std::string, text, "../shared/data/corpora/tinystories_valid_head.txt",
          "Held-out text; its last --held_out_bytes are scored");
ABSL_FLAG(int, held_out_bytes, 150000,
          "Bytes from the end of --text (models/default never trained on the last 150 KB)");
ABSL_FLAG(int, windows, 32, "Windows of --window tokens scored (all at once, one batch)");
ABSL_FLAG(int, window, 128, "Tokens per window: BOS + window-1 text tokens");
ABSL_FLAG(std::vector<std::string>, types,
          std::vector<std::string>({"f16", "bf16", "q8_0", "q4_0"}),
          "Weight types to compare with F32");
ABSL_FLAG(int, threads, 0, "Compute threads, 0 = the CPUs this process may use");
ABSL_FLAG(bool, int8_activations, false,
          "Also run each Q8_0/Q4_0 type with 8-bit activations (EngineOptions.activation_format)");

namespace stocha {
namespace {

constexpr char kUsage[] = R"(Prints a markdown table of what each weight type costs against F32.

  quant_accuracy [--model=models/default] [--types=f16,bf16,q8_0,q4_0] [--windows=32]
                 [--int8_activations]

Teacher-forced windows of held-out text, run with the model's default activation on the
dense path, deterministic. Block types are measured twice: as served (W_down's transposed
copy re-blocked to Q8_0 along D, docs/ENGINE.md) and with every weight at its exact
dequantized value in F32 (the same model written by stocha-quantize's writer as F32:
no re-blocking), so the second rounding's cost shows. --int8_activations adds, for Q8_0 and
Q4_0, a row with the activations of every product over those weights quantized to 8 bits.)";

[[noreturn]] void Fail(const std::string& msg) {
  std::fprintf(stderr, "quant_accuracy: %s\n", msg.c_str());
  std::exit(2);
}

// Logits at every position of every window: [window][position][V].
using AllLogits = std::vector<std::vector<std::vector<float>>>;

AllLogits Run(const std::shared_ptr<const Model>& model,
              const std::vector<std::vector<int>>& windows,
              ActivationFormat act = ActivationFormat::kF32) {
  EngineOptions o;
  o.activation_format = act;
  o.num_threads = absl::GetFlag(FLAGS_threads);
  o.deterministic = true;
  o.ffn.policy = FfnPolicy::kDense;
  auto engine = Engine::Create(model, o);
  if (!engine.ok()) Fail(std::string(engine.status().message()));
  std::vector<SequenceId> seqs;
  for (size_t w = 0; w < windows.size(); ++w) {
    auto s = (*engine)->AddSequence({model->config().DefaultActivation()});
    if (!s.ok()) Fail(std::string(s.status().message()));
    seqs.push_back(*s);
  }
  AllLogits out(windows.size());
  for (size_t pos = 0; pos < windows[0].size(); ++pos) {
    std::vector<StepInput> in;
    for (size_t w = 0; w < windows.size(); ++w)
      in.push_back({seqs[w], {windows[w][pos]}, true, true});
    auto r = (*engine)->Step(in);
    if (!r.ok()) Fail(std::string(r.status().message()));
    for (size_t w = 0; w < windows.size(); ++w) out[w].push_back(std::move(r->logits[w]));
  }
  return out;
}

struct Row {
  std::string name;
  double weight_mib = 0, mean_abs = 0, max_abs = 0, top1 = 0, ppl = 0;
};

double WeightMiB(const Model& m) {
  const ModelWeights& w = m.weights();
  double bytes = static_cast<double>(w.embed.nbytes() + w.final_norm.nbytes());
  if (w.lm_head.data != w.embed.data) bytes += static_cast<double>(w.lm_head.nbytes());
  for (const LayerWeights& l : w.layers) {
    for (const Tensor* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate,
                            &l.w_up, &l.w_down, &l.bq, &l.bk, &l.bv, &l.bo}) {
      if (t->present()) bytes += static_cast<double>(t->nbytes());
    }
  }
  return bytes / (1 << 20);
}

Row Compare(const std::string& name, const Model& model, const AllLogits& got, const AllLogits& ref,
            const std::vector<std::vector<int>>& windows) {
  Row r{name, WeightMiB(model)};
  double n = 0, agree = 0, nll = 0, elements = 0;
  for (size_t w = 0; w < got.size(); ++w) {
    for (size_t p = 0; p + 1 < got[w].size(); ++p) {
      const std::vector<float>& a = got[w][p];
      const std::vector<float>& b = ref[w][p];
      for (size_t i = 0; i < a.size(); ++i) {
        const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
        r.mean_abs += d;
        r.max_abs = std::max(r.max_abs, d);
      }
      elements += static_cast<double>(a.size());
      agree += std::max_element(a.begin(), a.end()) - a.begin() ==
               std::max_element(b.begin(), b.end()) - b.begin();
      const double mx = *std::max_element(a.begin(), a.end());
      double z = 0;
      for (float x : a) z += std::exp(static_cast<double>(x) - mx);
      nll -= static_cast<double>(a[windows[w][p + 1]]) - mx - std::log(z);
      ++n;
    }
  }
  r.mean_abs /= elements;
  r.top1 = agree / n;
  r.ppl = std::exp(nll / n);
  return r;
}

std::vector<std::vector<int>> Windows(const Model& model) {
  std::ifstream in(absl::GetFlag(FLAGS_text), std::ios::binary);
  if (!in) Fail("cannot read --text " + absl::GetFlag(FLAGS_text));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const size_t keep = static_cast<size_t>(absl::GetFlag(FLAGS_held_out_bytes));
  if (text.size() > keep) text = text.substr(text.size() - keep);
  if (model.tokenizer() == nullptr) Fail("the model has no tokenizer");
  auto ids = model.tokenizer()->Encode(text, /*add_bos=*/false);
  if (!ids.ok()) Fail(std::string(ids.status().message()));
  const int n = absl::GetFlag(FLAGS_windows), t = absl::GetFlag(FLAGS_window);
  if (n < 1 || t < 2) Fail("--windows >= 1 and --window >= 2");
  std::vector<std::vector<int>> out;
  for (int w = 0; w < n; ++w) {
    const size_t at = static_cast<size_t>(w) * (t - 1);
    if (at + t - 1 > ids->size()) Fail("--text is too short for --windows x --window");
    std::vector<int> win = {model.config().bos_token_id};
    win.insert(win.end(), ids->begin() + static_cast<std::ptrdiff_t>(at),
               ids->begin() + static_cast<std::ptrdiff_t>(at + t - 1));
    out.push_back(std::move(win));
  }
  return out;
}

std::shared_ptr<const Model> MustLoad(const std::string& path, const LoadOptions& o) {
  auto m = LoadModel(path, o);
  if (!m.ok()) Fail(std::string(m.status().message()));
  return *m;
}

int RunAll() {
  const std::string path = absl::GetFlag(FLAGS_model);
  const auto source = MustLoad(path, LoadOptions{});
  if (WeightTypeSummary(source->weights()) != "F32") Fail("--model must be stored in F32");
  const auto windows = Windows(*source);
  const AllLogits ref = Run(source, windows);
  std::vector<Row> rows = {Compare("F32 (source)", *source, ref, ref, windows)};
  const std::string tmp = (std::filesystem::temp_directory_path() /
                           ("quant_accuracy_" + std::to_string(getpid()) + ".gguf"))
                              .string();
  for (const std::string& name : absl::GetFlag(FLAGS_types)) {
    const std::optional<DType> type = ParseDType(name);
    if (!type.has_value()) Fail("unknown type '" + name + "'");
    LoadOptions o;
    if (IsQuantized(*type)) {
      o.quantize = *type;
    } else {
      o.convert_weights_to = *type;
    }
    const auto m = MustLoad(path, o);
    const std::string label(DTypeName(*type));
    rows.push_back(Compare(WeightTypeSummary(m->weights()), *m, Run(m, windows), ref, windows));
    if (!IsQuantized(*type)) continue;
    if (absl::GetFlag(FLAGS_int8_activations) && Int8DotSupported(*type)) {
      rows.push_back(Compare(WeightTypeSummary(m->weights()) + " + int8 activations", *m,
                             Run(m, windows, ActivationFormat::kInt8), ref, windows));
    }
    auto written = WriteModelGguf(*m, std::nullopt, DType::kF32, tmp);
    if (!written.ok()) Fail(std::string(written.status().message()));
    const auto exact = MustLoad(tmp, LoadOptions{});
    Row r = Compare(label + " values in F32 (no W_down re-blocking)", *exact, Run(exact, windows),
                    ref, windows);
    r.weight_mib = rows.back().weight_mib;  // the values of the row above, held wider here
    rows.push_back(r);
    std::filesystem::remove(tmp);
  }
  std::printf("%s: %d windows x %d tokens of the last %d bytes of %s\n\n", path.c_str(),
              absl::GetFlag(FLAGS_windows), absl::GetFlag(FLAGS_window),
              absl::GetFlag(FLAGS_held_out_bytes), absl::GetFlag(FLAGS_text).c_str());
  std::printf(
      "| weights | MiB | mean abs logit diff | max abs logit diff | top-1 agreement | perplexity "
      "|\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %.2f | %.4f | %.3f | %.2f%% | %.3f |\n", r.name.c_str(), r.weight_mib,
                r.mean_abs, r.max_abs, 100 * r.top1, r.ppl);
  }
  return 0;
}

}  // namespace
}  // namespace stocha

int main(int argc, char** argv) {
  stocha::SetProgramUsage(stocha::kUsage, "bench/quant_accuracy.cc");
  absl::ParseCommandLine(argc, argv);
  return stocha::RunAll();
}
