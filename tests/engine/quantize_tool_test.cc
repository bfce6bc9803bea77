// stocha-quantize's library (WriteModelGguf): the bundled default model and stories260K
// written in every type load back and compute what the source computes with the same
// rounding applied at load; bad inputs are clear errors.
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "engine/engine.h"
#include "engine/format/gguf_export.h"
#include "engine/format/load_model.h"
#include "engine/format/test_writers.h"
#include "engine/model/weight_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/prompt_logits.h"
#include "tests/fixtures.h"

namespace stocha {
namespace {

using ::testing::HasSubstr;

const std::string kDefault = std::string(STOCHA_SOURCE_DIR) + "/models/default";
const std::string kStories = std::string(STOCHA_SHARED_DIR) + "/data/stories260K";
const std::vector<int> kPrompt = {1, 5, 17, 30, 8, 9, 3, 3, 20, 11, 400, 2, 64};

std::shared_ptr<const Model> MustLoad(const std::string& path, const LoadOptions& o) {
  auto m = LoadModel(path, o);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

// Logits after each prompt token (one per step, dense, deterministic), with the model's
// default activation.
std::vector<std::vector<float>> Logits(const std::shared_ptr<const Model>& m) {
  return testing::PromptLogits(m, kPrompt, m->config().DefaultActivation(), FfnPolicy::kDense);
}

// How the source must be loaded to apply the rounding the file applies.
LoadOptions SameRounding(DType type, const std::string& tokenizer) {
  LoadOptions o;
  o.tokenizer_path = tokenizer;
  if (IsQuantized(type)) {
    o.quantize = type;
  } else if (type != DType::kF32) {
    o.convert_weights_to = type;
  }
  return o;
}

struct Source {
  std::string name, path, tokenizer;
  // Hugging Face Q/K rows are permuted to GGUF's interleaved RoPE order, which reorders
  // the head-dim sums of attention: same math, not the same bits.
  bool same_bits;
};

void CheckEveryType(const Source& src) {
  test::TempDir dir;
  auto vocab = VocabForExport(src.path, src.tokenizer);
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  ASSERT_TRUE(vocab->has_value());
  const auto source = MustLoad(src.path, SameRounding(DType::kF32, src.tokenizer));
  ASSERT_NE(source, nullptr);
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    SCOPED_TRACE(src.name + " -> " + std::string(DTypeName(type)));
    const std::string out = dir.path(absl::AsciiStrToLower(std::string(DTypeName(type))) + ".gguf");
    auto written = WriteModelGguf(*source, *vocab, type, out);
    ASSERT_TRUE(written.ok()) << written.status();
    const auto copy = MustLoad(out, LoadOptions{});
    ASSERT_NE(copy, nullptr);
    ASSERT_NE(copy->tokenizer(), nullptr);
    // The written vocabulary encodes text as the source's tokenizer does.
    const std::string text = "Once upon a time, Lily saw a big dog. \"Hi!\" she said.";
    EXPECT_EQ(*copy->tokenizer()->Encode(text, true), *source->tokenizer()->Encode(text, true));
    EXPECT_EQ(copy->config().hidden_act, source->config().hidden_act);
    EXPECT_EQ(copy->config().DefaultActivation(), source->config().DefaultActivation());
    // Every matrix is the target type or the F16 fallback, never anything else.
    for (const ExportedTensor& t : *written) {
      if (t.fallback) {
        EXPECT_EQ(t.type, DType::kF16) << t.name;
        EXPECT_TRUE(IsQuantized(type)) << t.name;
      }
    }
    const auto want = Logits(MustLoad(src.path, SameRounding(type, src.tokenizer)));
    const auto got = Logits(copy);
    if (src.same_bits) {
      EXPECT_EQ(got, want);
    } else {
      EXPECT_LT(testing::MaxRelativeError(got, want), 1e-5);
    }
  }
}

TEST(QuantizeToolTest, DefaultModelInEveryTypeMatchesTheSourceWithTheSameRounding) {
  CheckEveryType({"models/default", kDefault, "", false});
}

TEST(QuantizeToolTest, Stories260KGgufAndLlama2cInEveryType) {
  if (!std::filesystem::exists(kStories)) STOCHA_FIXTURE_ABSENT(kStories << " absent");
  CheckEveryType({"stories260K.gguf", kStories + "/stories260K.gguf", "", true});
  // llama2.c pairs RoPE dims as GGUF does: no permutation, same bits.
  CheckEveryType(
      {"stories260K.bin", kStories + "/stories260K.bin", kStories + "/stories260K.gguf", true});
}

TEST(QuantizeToolTest, RowsNotAMultipleOfTheBlockKeepF16AndAreReported) {
  if (!std::filesystem::exists(kStories)) STOCHA_FIXTURE_ABSENT(kStories << " absent");
  test::TempDir dir;
  const std::string src = kStories + "/stories260K.gguf";
  const auto source = MustLoad(src, LoadOptions{});
  ASSERT_NE(source, nullptr);
  auto written =
      WriteModelGguf(*source, *VocabForExport(src, ""), DType::kQ4_0, dir.path("q.gguf"));
  ASSERT_TRUE(written.ok()) << written.status();
  const ModelConfig& c = source->config();
  ASSERT_NE(c.intermediate_size % 32, 0);
  int fallbacks = 0;
  for (const ExportedTensor& t : *written) {
    const bool down = t.name.find("ffn_down") != std::string::npos;
    // F = 172 is not a multiple of 32: W_down's rows fall back; everything else is Q4_0.
    if (t.name.find("norm") != std::string::npos) {
      EXPECT_EQ(t.type, DType::kF32) << t.name;
    } else {
      EXPECT_EQ(t.fallback, down) << t.name;
      EXPECT_EQ(t.type, down ? DType::kF16 : DType::kQ4_0) << t.name;
    }
    fallbacks += t.fallback;
  }
  EXPECT_EQ(fallbacks, c.num_layers);
  // The summary GetModelInfo reports: shares of matrix elements.
  const auto copy = MustLoad(dir.path("q.gguf"), LoadOptions{});
  ASSERT_NE(copy, nullptr);
  const double d = c.hidden_size, f = c.intermediate_size, v = c.vocab_size;
  const double q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const double down = c.num_layers * d * f;
  const double all =
      v * d * (c.tie_word_embeddings ? 1 : 2) + c.num_layers * (q * d * 2 + kv * d * 2 + 3 * d * f);
  const int f16 = static_cast<int>(std::lround(100 * down / all));
  EXPECT_EQ(WeightTypeSummary(copy->weights()),
            "mixed: Q4_0 " + std::to_string(100 - f16) + "%, F16 " + std::to_string(f16) + "%");
}

TEST(QuantizeToolTest, LoadTimeQuantizeUsesTheSameRule) {
  LoadOptions o;
  o.quantize = DType::kQ4_0;
  const auto m = MustLoad(kDefault, o);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(WeightTypeSummary(m->weights()), "Q4_0");
  EXPECT_EQ(m->weights().layers[0].attn_norm.dtype, DType::kF32);
  EXPECT_EQ(WeightTypeSummary(MustLoad(kDefault, LoadOptions{})->weights()), "F32");
  o.quantize = DType::kBF16;
  auto bad = LoadModel(kDefault, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("needs a block type, not BF16"));
}

TEST(QuantizeToolTest, BadInputsAreClearErrors) {
  EXPECT_EQ(ParseDType("q8_0"), DType::kQ8_0);
  EXPECT_EQ(ParseDType("BF16"), DType::kBF16);
  EXPECT_EQ(ParseDType("q9_9"), std::nullopt);
  EXPECT_THAT(KnownDTypeNames(","), HasSubstr("f32,f16,bf16,q8_0,q4_0"));
  test::TempDir dir;
  // A llama2.c tokenizer.bin has no GGUF form here: refused, not silently dropped.
  test::WriteFile(dir.path("tokenizer.bin"), "not a vocabulary");
  auto vocab = VocabForExport(dir.path("model.bin"), dir.path("tokenizer.bin"));
  ASSERT_FALSE(vocab.ok());
  EXPECT_THAT(std::string(vocab.status().message()),
              HasSubstr("tokenizer.bin: this tokenizer format cannot be written into a GGUF"));
  // An HF tokenizer.json likewise.
  std::filesystem::create_directory(dir.path("hf"));
  test::WriteFile(dir.path("hf/tokenizer.json"), "{}");
  vocab = VocabForExport(dir.path("hf"), "");
  ASSERT_FALSE(vocab.ok());
  EXPECT_THAT(std::string(vocab.status().message()), HasSubstr("tokenizer.json"));
  // An output path that cannot be written names it.
  const auto m = MustLoad(kDefault, LoadOptions{});
  ASSERT_NE(m, nullptr);
  auto w = WriteModelGguf(*m, std::nullopt, DType::kQ8_0, dir.path("no/such/dir/x.gguf"));
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("no/such/dir/x.gguf"));
}

}  // namespace
}  // namespace stocha
