// Black-box tests of the stocha-quantize binary, and of --quantize on stocha-generate.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/format/temp_dir.h"
#include "gtest/gtest.h"
#include "tests/engine/run_program.h"
#include "tests/engine/test_data.h"

namespace stocha {
namespace {

using Result = testing::ProgramResult;
using test::TempDir;
using testing::RunTool;

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(QuantizeCliTest, BadInputsGiveOneLineErrors) {
  const std::string model = std::string(STOCHA_SOURCE_DIR) + "/models/default";
  for (const auto& [args, prefix] : std::vector<std::tuple<std::string, std::string>>{
           {"--out x.gguf", "stocha-quantize: --model is required"},
           {"--model " + model, "stocha-quantize: --out is required"},
           {"--model " + model + " --out x.gguf --type q9",
            "stocha-quantize: --type 'q9' is not one of f32, f16, bf16, q8_0, q4_0"},
           {"--model /no/such/model --out x.gguf", "stocha-quantize: /no/such/model"},
           {"--model " + model + " --out /no/such/dir/x.gguf",
            "stocha-quantize: /no/such/dir/x.gguf: cannot open for writing"}}) {
    Result r = RunTool("stocha-quantize", args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_EQ(r.out.rfind(prefix, 0), 0u) << args << ": " << r.out;
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "one line: " << r.out;
  }
  Result r = RunTool("stocha-generate", "--model " + model + " --quantize bf16");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out.rfind("stocha-generate: --quantize 'bf16' is not one of q8_0, q4_0", 0), 0u)
      << r.out;
}

// stories260K to Q8_0: the five 172-wide W_down fall back to F16 (printed); the file
// generates the greedy text that --quantize=q8_0 at load gives from the source; a llama2.c
// tokenizer.bin is refused.
TEST(QuantizeCliTest, Stories260KQ8_0FileEqualsQuantizeAtLoad) {
  STOCHA_REQUIRE_SHARED_DATA();
  TempDir dir;
  const std::string src = testing::SharedData("stories260K/stories260K.gguf");
  const std::string out = dir.path("s.q8_0.gguf");
  Result q = RunTool("stocha-quantize", "--model " + src + " --out " + out + " --type q8_0");
  ASSERT_EQ(q.code, 0) << q.out;
  EXPECT_EQ(Count(q.out, "fallback: blk."), 5) << q.out;
  EXPECT_NE(q.out.find("fallback: blk.0.ffn_down.weight kept F16"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("matrices Q8_0 (5 fallback), with vocabulary"), std::string::npos) << q.out;
  const std::string gen =
      " --prompt 'Once upon a time' --temperature 0 --activation silu --max_new_tokens 40";
  Result from_file = RunTool("stocha-generate", "--model " + out + gen);
  Result at_load = RunTool("stocha-generate", "--model " + src + " --quantize q8_0" + gen);
  ASSERT_EQ(from_file.code, 0) << from_file.out;
  ASSERT_EQ(at_load.code, 0) << at_load.out;
  const auto text = [](const std::string& s) { return s.substr(0, s.find("activation ")); };
  EXPECT_EQ(text(from_file.out), text(at_load.out));
  EXPECT_NE(text(from_file.out).find("Once upon a time"), std::string::npos) << from_file.out;

  Result bin =
      RunTool("stocha-quantize",
              "--model " + testing::SharedData("stories260K/stories260K.bin") + " --tokenizer " +
                  testing::SharedData("stories260K/tok512.bin") + " --out " + dir.path("x.gguf"));
  EXPECT_EQ(bin.code, 2);
  EXPECT_NE(bin.out.find("tok512.bin: this tokenizer format cannot be written into a GGUF"),
            std::string::npos)
      << bin.out;
}

}  // namespace
}  // namespace stocha
