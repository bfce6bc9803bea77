// Black-box tests of the stocha-generate binary: help, errors, text and JSON output.
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/run_program.h"
#include "tests/engine/test_data.h"

namespace stocha {
namespace {

using Result = testing::ProgramResult;

Result RunCli(const std::string& args) { return testing::RunTool("stocha-generate", args); }

TEST(CliTest, HelpExplainsEveryFlag) {
  // absl's --help exits 1 in the Debian 12 Abseil (0 in later releases): not asserted.
  Result r = RunCli("--help");
  for (const char* flag :
       {"--model", "--tokenizer", "--prompt", "--activation", "--n ", "--seed", "--temperature",
        "--top_k", "--top_p", "--max_new_tokens", "--stop", "--logprobs", "--threads", "--json",
        "--max-tokens", "--samples", "--device"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

TEST(CliTest, BadFlagsGiveOneLineErrors) {
  // Syntax errors are absl's (exit 1), bad values ours (exit 2); one line each.
  for (const auto& [args, code, prefix] : std::vector<std::tuple<std::string, int, std::string>>{
           {"--bogus", 1, "ERROR: Unknown command line flag 'bogus'"},
           {"--model", 1, "ERROR: Missing the value for the flag 'model'"},
           {"--model m --temperature x", 1, "ERROR: Illegal value 'x' specified for flag"},
           {"--model m extra", 2, "stocha-generate: unexpected argument 'extra'"},
           {"--model m --top_p 0", 2, "stocha-generate: top_p"},
           // An old spelling reaches the same flag.
           {"--model m --top-p 0", 2, "stocha-generate: top_p"},
           {"--model m --max-tokens=-1", 2, "stocha-generate: --max_new_tokens must be >= 0"},
           {"--model m --activation gelu", 2, "stocha-generate: "},
           {"--model /no/such/model", 2, "stocha-generate: "},
           {"--prompt x", 2, "stocha-generate: --model is required"}}) {
    Result r = RunCli(args);
    EXPECT_EQ(r.code, code) << args << ": " << r.out;
    EXPECT_EQ(r.out.rfind(prefix, 0), 0u) << args << ": " << r.out;
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "one line: " << r.out;
  }
}

TEST(CliTest, GreedyTextMatchesUpstreamAndPrintsSparsity) {
  STOCHA_REQUIRE_SHARED_DATA();
  Result r =
      RunCli("--model " + testing::SharedData("stories260K/stories260K.gguf") +
             " --prompt 'Once upon a time' --temperature 0 --activation silu --max_new_tokens 60");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string want = testing::ReadFile(
      testing::SharedData("stories260K/expected/runc_t0_n64_once_upon_a_time.stdout.txt"));
  EXPECT_EQ(r.out.substr(0, want.size()), want);
  EXPECT_NE(r.out.find("FFN sparsity"), std::string::npos);
}

TEST(CliTest, JsonHasSamplesLogprobsSparsityAndTimings) {
  STOCHA_REQUIRE_SHARED_DATA();
  Result r = RunCli("--model " + testing::SharedData("stories260K/stories260K.bin") +
                    " --tokenizer " + testing::SharedData("stories260K/tok512.bin") +
                    " --n 3 --activation stocha:0.5 --seed 4 --max_new_tokens 20 --logprobs 3"
                    " --stop '.' --json");
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["samples"].size(), 3u);
  for (const auto& s : j["samples"]) {
    EXPECT_EQ(s["text"].get<std::string>().find('.'), std::string::npos);
    ASSERT_FALSE(s["logprobs"].empty());
    EXPECT_EQ(s["logprobs"][0]["top"].size(), 3u);
    EXPECT_LE(s["logprobs"][0]["logprob"].get<double>(), 0.0);
  }
  EXPECT_EQ(j["activation"], "stocha:0.5");
  ASSERT_EQ(j["sparsity"]["layers"].size(), 5u);
  EXPECT_GT(j["sparsity"]["layers"][0]["generated_sparsity"].get<double>(), 0.0);
  EXPECT_GT(j["timings"]["decode_seconds"].get<double>(), 0.0);
}

// models/default/golden.json's greedy ids (PyTorch; ReLU, SiLU and seeded StochA) from the
// command line, as a user would get them. The CLI stops at EOS, so this needs goldens whose
// ids hold no EOS or BOS (checked), and a fixed --max_new_tokens well inside the context.
TEST(CliTest, GoldenGreedyIdsOfTheDefaultModelForEveryActivation) {
  const std::string dir = std::string(STOCHA_SOURCE_DIR) + "/models/default";
  const nlohmann::json g = nlohmann::json::parse(testing::ReadFile(dir + "/golden.json"));
  const nlohmann::json config = nlohmann::json::parse(testing::ReadFile(dir + "/config.json"));
  nlohmann::json runs = nlohmann::json::array();
  runs.push_back({{"activation", g["activation"]}, {"cases", g["cases"]}});
  for (const auto& run : g["more_activations"]) runs.push_back(run);
  ASSERT_EQ(runs.size(), 3u);
  for (const auto& run : runs) {
    const std::string act = run["activation"].get<std::string>();
    for (const auto& tc : run["cases"]) {
      const std::vector<int> want = tc["greedy_ids"].get<std::vector<int>>();
      for (int id : want) {
        ASSERT_TRUE(id != config["bos_token_id"] && id != config["eos_token_id"])
            << "an EOS/BOS in the golden ids would stop the CLI";
      }
      Result r = RunCli(absl::StrCat("--model ", dir, " --prompt '",
                                     tc["prompt"].get<std::string>(), "' --activation ", act,
                                     " --temperature 0 --seed ", run.value("seed", uint64_t{0}),
                                     " --max_new_tokens ", want.size(), " --json"));
      ASSERT_EQ(r.code, 0) << r.out;
      const nlohmann::json j = nlohmann::json::parse(r.out);
      EXPECT_EQ(j["prompt_tokens"].get<std::vector<int>>(),
                tc["prompt_ids"].get<std::vector<int>>());
      EXPECT_EQ(j["samples"][0]["tokens"].get<std::vector<int>>(), want)
          << act << ": " << tc["prompt"];
    }
  }
}

TEST(CliTest, OldSpellingsAreAliases) {
  STOCHA_REQUIRE_SHARED_DATA();
  const std::string model = " --model " + testing::SharedData("stories260K/stories260K.gguf");
  Result a = RunCli(model + " --samples 2 --max-tokens 12 --top-k 5 --top-p=0.9 --seed 3 --json");
  Result b = RunCli(model + " --n 2 --max_new_tokens 12 --top_k 5 --top_p=0.9 --seed 3 --json");
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_EQ(b.code, 0) << b.out;
  const nlohmann::json ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  ASSERT_EQ(ja["samples"].size(), 2u);
  EXPECT_EQ(ja["samples"], jb["samples"]);
}

}  // namespace
}  // namespace stocha
