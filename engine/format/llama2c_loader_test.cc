// llama2.c checkpoints: round trips, exact-size checks and header validation.
#include "engine/format/llama2c_loader.h"

#include <cstring>
#include <string>

#include "engine/format/load_model.h"
#include "engine/format/test_writers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"

namespace stocha {
namespace {

using test::TinyModel;
using ::testing::HasSubstr;

class Llama2cLoaderTest : public ::testing::Test {
 protected:
  std::string path() const { return tmp_.path("m.bin"); }
  std::string Error(const std::string& bytes, const LoadOptions& options = {}) {
    test::WriteFile(path(), bytes);
    auto m = LoadModel(path(), options);
    return m.ok() ? "" : std::string(m.status().message());
  }
  // The tiny model's bytes with header int `field` (0..6) set to `value`.
  static std::string WithHeader(int field, int32_t value) {
    std::string bytes = test::Llama2cBytes(TinyModel::Make(true));
    std::memcpy(bytes.data() + 4 * field, &value, 4);
    return bytes;
  }
  test::TempDir tmp_;
};

TEST_F(Llama2cLoaderTest, RoundTripsTiedAndUntied) {
  for (bool tied : {true, false}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    const TinyModel m = TinyModel::Make(tied);
    test::WriteFile(path(), test::Llama2cBytes(m));
    auto model = LoadModel(path());
    ASSERT_TRUE(model.ok()) << model.status();
    test::ExpectWeightsEqual(m, (*model)->weights());
    const ModelConfig& c = (*model)->config();
    test::ExpectTinySizes(m, c);
    EXPECT_EQ(c.rope_style, RopeStyle::kInterleaved);
    EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
    EXPECT_EQ(c.tie_word_embeddings, tied);
    EXPECT_EQ(c.bos_token_id, 1);
    EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
    EXPECT_EQ((*model)->tokenizer(), nullptr);  // never guessed
    EXPECT_EQ((*model)->weights().layers[1].w_gate.name, "w1[1]");
  }
}

TEST_F(Llama2cLoaderTest, RequiresExactSize) {
  const std::string bytes = test::Llama2cBytes(TinyModel::Make(true));
  const std::string n = std::to_string(bytes.size());
  EXPECT_THAT(Error(bytes.substr(0, bytes.size() - 1)),
              HasSubstr(path() + ": file has " + std::to_string(bytes.size() - 1) +
                        " bytes, but its header (dim 8, hidden_dim 16, n_layers 2, vocab_size "
                        "32, seq_len 16) needs " +
                        n + " bytes"));
  EXPECT_THAT(Error(bytes + "x"), HasSubstr("needs " + n + " bytes"));
  // An untied header on tied data: the missing wcls shows up as a size mismatch.
  EXPECT_THAT(Error(WithHeader(5, -32)), HasSubstr("vocab_size -32, seq_len 16) needs"));
}

TEST_F(Llama2cLoaderTest, RejectsBadHeaders) {
  EXPECT_THAT(Error(""), HasSubstr(path() + ": truncated at byte 0 reading the llama2.c header"));
  EXPECT_THAT(Error(std::string(27, '\1')), HasSubstr("truncated"));
  EXPECT_EQ(Error(WithHeader(0, 0)), path() + ": header field dim (0) must be > 0");
  EXPECT_EQ(Error(WithHeader(1, -3)), path() + ": header field hidden_dim (-3) must be > 0");
  EXPECT_EQ(Error(WithHeader(2, 0)), path() + ": header field n_layers (0) must be > 0");
  EXPECT_EQ(Error(WithHeader(3, -1)), path() + ": header field n_heads (-1) must be > 0");
  EXPECT_EQ(Error(WithHeader(4, 0)), path() + ": header field n_kv_heads (0) must be > 0");
  EXPECT_EQ(Error(WithHeader(5, 0)), path() + ": header field vocab_size (0) must be > 0");
  EXPECT_EQ(Error(WithHeader(6, 0)), path() + ": header field seq_len (0) must be > 0");
  EXPECT_EQ(Error(WithHeader(5, INT32_MIN)), path() + ": header field vocab_size is out of range");
  EXPECT_EQ(Error(WithHeader(3, 3)), path() + ": header field n_heads (3) must divide dim (8)");
  EXPECT_EQ(Error(WithHeader(4, 3)),
            path() + ": header field n_kv_heads (3) must divide n_heads (2)");
  EXPECT_THAT(Error(std::string("24ka") + std::string(100, '\0')),
              HasSubstr("version 1/2 files (magic 'ak42') are not supported"));
}

TEST_F(Llama2cLoaderTest, HugeHeaderValuesNeverOverflow) {
  std::string bytes = test::Llama2cBytes(TinyModel::Make(true));
  for (int32_t v : {INT32_MAX, INT32_MAX - 1, 65536}) {
    for (int field : {0, 1, 2, 5, 6}) {
      std::string b = bytes;
      std::memcpy(b.data() + 4 * field, &v, 4);
      if (field == 0) std::memcpy(b.data() + 12, &v, 4);  // keep n_heads | dim
      if (field == 0) std::memcpy(b.data() + 16, &v, 4);
      EXPECT_THAT(Error(b), HasSubstr("bytes")) << field << "=" << v;
    }
  }
  int32_t all[7] = {INT32_MAX, INT32_MAX, INT32_MAX, 1, 1, -INT32_MAX, INT32_MAX};
  EXPECT_THAT(Error(std::string(reinterpret_cast<char*>(all), sizeof all)),
              HasSubstr("needs more than 2^64 bytes"));
}

TEST_F(Llama2cLoaderTest, TokenizerFromOption) {
  const std::string tok = test::SharedData("stories260K/tok512.bin");
  if (tok.empty()) STOCHA_FIXTURE_ABSENT("../shared/data is absent");
  TinyModel m = TinyModel::Make(true);  // widened to tok512's 512 tokens
  m.vocab = 512;
  m.embed = TinyModel::Values(512 * 8, 1);
  LoadOptions options;
  options.tokenizer_path = tok;
  test::WriteFile(path(), test::Llama2cBytes(m));
  auto model = LoadModel(path(), options);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_NE((*model)->tokenizer(), nullptr);
  EXPECT_EQ((*model)->tokenizer()->vocab_size(), 512);
  options.tokenizer_path = tmp_.path("missing.bin");
  EXPECT_THAT(Error(test::Llama2cBytes(m), options), HasSubstr("missing.bin"));
}

}  // namespace
}  // namespace stocha
