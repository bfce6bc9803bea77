// LoadModel: format detection and path errors.
#include "engine/format/load_model.h"

#include <string>

#include "engine/format/test_writers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

using test::TinyModel;
using ::testing::HasSubstr;

TEST(LoadModelTest, NonexistentPathIsNotFound) {
  auto m = LoadModel("/nonexistent/model.bin");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("/nonexistent/model.bin"));
}

TEST(LoadModelTest, DirectoryNeedsConfigJson) {
  test::TempDir tmp;
  auto m = LoadModel(tmp.root());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr(tmp.root() + ": a model directory"));
}

TEST(LoadModelTest, EmptyFileIsAnError) {
  test::TempDir tmp;
  test::WriteFile(tmp.path("empty.bin"), "");
  auto m = LoadModel(tmp.path("empty.bin"));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("empty.bin: truncated"));
}

TEST(LoadModelTest, DetectsFormatByContentNotName) {
  test::TempDir tmp;
  const TinyModel m = TinyModel::Make(false);
  test::WriteFile(tmp.path("model.bin"), test::TinyGguf(m).Build());  // GGUF despite .bin
  test::WriteFile(tmp.path("model.gguf"), test::Llama2cBytes(m));     // llama2.c despite .gguf
  auto gguf = LoadModel(tmp.path("model.bin"));
  ASSERT_TRUE(gguf.ok()) << gguf.status();
  EXPECT_EQ((*gguf)->weights().embed.name, "token_embd.weight");
  auto llama2c = LoadModel(tmp.path("model.gguf"));
  ASSERT_TRUE(llama2c.ok()) << llama2c.status();
  EXPECT_EQ((*llama2c)->weights().embed.name, "token_embedding_table");
  // The three formats give the same weights.
  test::WriteHfDir(tmp.root(), m, "F32");
  auto hf = LoadModel(tmp.root());
  ASSERT_TRUE(hf.ok()) << hf.status();
  for (const auto* model : {&*gguf, &*llama2c, &*hf})
    test::ExpectWeightsEqual(m, (*model)->weights());
}

// A mapped file's tensor may let its pages go (the engine does so for W_down, which it
// keeps transposed) and still reads the same values; a converted tensor lives in memory
// the loader owns, which is not released.
TEST(LoadModelTest, MappedWeightsReleaseTheirPagesAndStayReadable) {
  test::TempDir tmp;
  TinyModel shape;
  shape.dim = 64;
  shape.hidden = 128;  // W_down: 32 KiB of F32, whole pages
  const TinyModel m = TinyModel::Make(shape, false);
  test::WriteFile(tmp.path("m.gguf"), test::TinyGguf(m).Build());
  auto mapped = LoadModel(tmp.path("m.gguf"));
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  for (const LayerWeights& l : (*mapped)->weights().layers) {
    EXPECT_TRUE((*mapped)->ReleasePages(l.w_down));
  }
  test::ExpectWeightsEqual(m, (*mapped)->weights());
  LoadOptions bf16;
  bf16.convert_weights_to = DType::kBF16;
  auto converted = LoadModel(tmp.path("m.gguf"), bf16);
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_FALSE((*converted)->ReleasePages((*converted)->weights().layers[0].w_down));
}

}  // namespace
}  // namespace stocha
