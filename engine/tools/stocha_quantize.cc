// stocha-quantize: any model stocha loads -> a llama GGUF with matrices in a chosen type.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "engine/format/gguf_export.h"
#include "engine/format/load_model.h"
#include "engine/model/weight_types.h"
#include "engine/tools/program_usage.h"

ABSL_FLAG(std::string, model, "",
          "Source model: HF directory, .gguf file, or llama2.c .bin checkpoint (required)");
ABSL_FLAG(std::string, tokenizer, "",
          "Tokenizer file where the format keeps it apart (llama2.c); must be a GGUF or a "
          "SentencePiece tokenizer.model to be written into the output");
ABSL_FLAG(std::string, out, "", "Output .gguf path (required)");
ABSL_FLAG(std::string, type, "q8_0",
          "Type of the matrices: any type stocha stores (q8_0, q4_0, f16, bf16, f32, ...)");

namespace stocha {
namespace {

constexpr char kUsage[] =
    R"(Writes a model as a llama-architecture GGUF with its matrices in one type.

  stocha-quantize --model=IN --out=OUT.gguf --type=q8_0|q4_0|f16|bf16|f32

Reads any model stocha loads (HF directory, llama2.c .bin with --tokenizer, GGUF) through
the normal loader. Norms are written F32; a matrix whose rows are not a multiple of the
type's block size keeps F16 (printed), as llama.cpp's quantizer does. The vocabulary is
copied from a GGUF source or converted from a SentencePiece BPE tokenizer.model; other
tokenizer formats are refused (docs/MODEL_FORMATS.md).)";

[[noreturn]] void Fail(const std::string& msg) {
  std::fprintf(stderr, "stocha-quantize: %s\n", msg.c_str());
  std::exit(2);
}

int Run() {
  const std::string in = absl::GetFlag(FLAGS_model), out = absl::GetFlag(FLAGS_out);
  const std::string tokenizer = absl::GetFlag(FLAGS_tokenizer);
  if (in.empty()) Fail("--model is required (see --help)");
  if (out.empty()) Fail("--out is required (see --help)");
  const std::optional<DType> type = ParseDType(absl::GetFlag(FLAGS_type));
  if (!type.has_value()) {
    Fail("--type '" + absl::GetFlag(FLAGS_type) + "' is not one of " + KnownDTypeNames(", "));
  }
  // The vocabulary first: a refusal should not wait for the weights to load.
  absl::StatusOr<std::optional<GgufVocab>> vocab = VocabForExport(in, tokenizer);
  if (!vocab.ok()) Fail(std::string(vocab.status().message()));
  LoadOptions lo;
  lo.tokenizer_path = tokenizer;
  absl::StatusOr<std::shared_ptr<const Model>> model = LoadModel(in, lo);
  if (!model.ok()) Fail(std::string(model.status().message()));
  absl::StatusOr<std::vector<ExportedTensor>> written = WriteModelGguf(**model, *vocab, *type, out);
  if (!written.ok()) Fail(std::string(written.status().message()));
  int fallbacks = 0;
  for (const ExportedTensor& t : *written) {
    if (!t.fallback) continue;
    ++fallbacks;
    std::printf("fallback: %s kept %s (rows not a multiple of the %s block)\n", t.name.c_str(),
                std::string(DTypeName(t.type)).c_str(), std::string(DTypeName(*type)).c_str());
  }
  std::printf("wrote %s: %zu tensors, matrices %s (%d fallback), %s\n", out.c_str(),
              written->size(), std::string(DTypeName(*type)).c_str(), fallbacks,
              vocab->has_value() ? "with vocabulary" : "no vocabulary (the source had none)");
  return 0;
}

}  // namespace
}  // namespace stocha

int main(int argc, char** argv) {
  stocha::SetProgramUsage(stocha::kUsage, "tools/stocha_quantize.cc");
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    stocha::Fail(std::string("unexpected argument '") + positional[1] + "' (see --help)");
  }
  return stocha::Run();
}
