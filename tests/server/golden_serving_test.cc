// The served path against PyTorch: the real stocha-server on models/default must return
// golden.json's greedy ids (ReLU, SiLU, seeded StochA) alone, and under 16 concurrent
// clients in --deterministic mode. The ids come from training/make_golden.py (PyTorch;
// StochA masks from a Python Philox checked against Random123), not from this engine.
#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/server/rpc_helpers.h"
#include "tests/server/server_process.h"

namespace stocha::server::testing {
namespace {

const std::string kDir = std::string(STOCHA_SOURCE_DIR) + "/models/default";

struct GoldenCase {
  std::string label;  // activation and prompt, for messages
  v1::GenerateRequest request;
  std::vector<int> prompt_ids, want;
};

// Every golden case as a request: greedy, a fixed number of new tokens well inside the
// context, no EOS stop and no stop strings (so the loop's stop semantics do not enter).
std::vector<GoldenCase> LoadGoldenCases() {
  std::ifstream in(kDir + "/golden.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const nlohmann::json g = nlohmann::json::parse(ss.str());
  nlohmann::json runs = nlohmann::json::array();
  runs.push_back({{"activation", g["activation"]}, {"cases", g["cases"]}});
  for (const auto& run : g["more_activations"]) runs.push_back(run);
  std::vector<GoldenCase> out;
  for (const auto& run : runs) {
    const std::string act = run["activation"].get<std::string>();
    for (const auto& tc : run["cases"]) {
      GoldenCase c;
      c.label = act + ": " + tc["prompt"].get<std::string>();
      c.request = Request(tc["prompt"].get<std::string>(), g["new_tokens"].get<int>(), 0.0f,
                          run.value("seed", uint64_t{0}));
      c.request.set_ignore_eos(true);
      c.request.mutable_activation()->set_kind(act.substr(0, act.find(':')));
      if (run.contains("p")) c.request.mutable_activation()->set_p(run["p"].get<float>());
      c.prompt_ids = tc["prompt_ids"].get<std::vector<int>>();
      c.want = tc["greedy_ids"].get<std::vector<int>>();
      out.push_back(std::move(c));
    }
  }
  return out;
}

// "" when the server answers `c` with the golden ids, else what went wrong.
std::string Check(v1::Stocha::Stub& stub, const GoldenCase& c) {
  v1::GenerateResponse r;
  auto ctx = Context(absl::Seconds(120));
  ctx->set_wait_for_ready(true);
  const grpc::Status s = stub.Generate(ctx.get(), c.request, &r);
  if (!s.ok()) return c.label + ": " + s.error_message();
  if (r.samples_size() != 1) return c.label + ": " + std::to_string(r.samples_size()) + " samples";
  if (r.usage().prompt_tokens() != c.prompt_ids.size()) {
    return absl::StrCat(c.label, ": ", r.usage().prompt_tokens(), " prompt tokens, want ",
                        c.prompt_ids.size());
  }
  const std::vector<int> got = Ids(r.samples(0).token_ids());
  if (got == c.want) return "";
  std::string diff = c.label + ": ids differ from PyTorch";
  for (size_t i = 0; i < std::min(got.size(), c.want.size()); ++i) {
    if (got[i] != c.want[i]) {
      return absl::StrCat(diff, " first at new token ", i, " (got ", got[i], ", want ", c.want[i],
                          ")");
    }
  }
  return absl::StrCat(diff, ": got ", got.size(), " ids, want ", c.want.size());
}

TEST(GoldenServingTest, EveryActivationAloneMatchesPyTorch) {
  const std::vector<GoldenCase> cases = LoadGoldenCases();
  ASSERT_EQ(cases.size(), 9u);  // 3 prompts x relu, silu, stocha(p) seeded
  auto server = ServerProcess::StartWithModel({"--model=" + kDir}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::Stocha::NewStub((*server)->channel());
  for (const GoldenCase& c : cases) EXPECT_EQ(Check(*stub, c), "") << (*server)->Log();
}

// 16 rows in one batch: where the engine's oneDNN path would begin without --deterministic.
// A step delay lets all 16 requests join before the first decode step; the load report
// shows that they ran together.
TEST(GoldenServingTest, SixteenConcurrentClientsInDeterministicModeMatchPyTorch) {
  constexpr int kClients = 16;
  const std::vector<GoldenCase> cases = LoadGoldenCases();
  ASSERT_FALSE(cases.empty());
  auto server = ServerProcess::StartWithModel(
      {"--model=" + kDir}, {"--deterministic", "--max_batch_size=16", "--testing_step_delay=20ms"});
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<std::string> problems(kClients);  // one slot per client: no lock needed
  std::atomic<bool> done{false};
  std::atomic<uint32_t> most_running{0};
  std::thread watcher([&] {
    auto stub = v1::Stocha::NewStub((*server)->NewChannel());
    while (!done.load()) {
      v1::Load load;
      if (stub->GetLoad(Context().get(), v1::GetLoadRequest(), &load).ok() &&
          load.running_sequences() > most_running.load()) {
        most_running = load.running_sequences();
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto stub = v1::Stocha::NewStub((*server)->NewChannel());
      problems[i] = Check(*stub, cases[i % cases.size()]);
    });
  }
  for (std::thread& t : clients) t.join();
  done = true;
  watcher.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(problems[i], "") << "client " << i;
  EXPECT_EQ(most_running.load(), static_cast<uint32_t>(kClients)) << (*server)->Log();
}

}  // namespace
}  // namespace stocha::server::testing
