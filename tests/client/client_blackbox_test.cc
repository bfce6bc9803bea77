// Black-box tests of stocha-loadgen and stocha-cli: the real binaries, run as child
// processes against a real stocha-server, judged by their exit codes, stdout and stderr.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"
#include "tests/server/server_process.h"

namespace stocha::server::testing {
namespace {

#define REQUIRE_MODEL() \
  if (!HaveTestModel()) STOCHA_FIXTURE_ABSENT("no ../shared/data/stories260K (a user's clone)")

struct Outcome {
  int exit_code = -1;  // 128 + signal if killed
  bool timed_out = false;
  std::string out, err;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "exit " << o.exit_code << (o.timed_out ? " (killed: timed out)" : "")
            << "\n--- stdout ---\n"
            << o.out << "\n--- stderr ---\n"
            << o.err;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `binary args...` with stdout and stderr in files (no pipe to fill up), SIGKILLs it
// after `timeout`: a hang fails the test instead of stalling ctest.
Outcome RunProcess(const std::string& binary, const std::vector<std::string>& args,
                   absl::Duration timeout = absl::Seconds(30)) {
  Outcome o;
  std::string dir = ::testing::TempDir() + "/stocha-client-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << dir;
    return o;
  }
  const std::string out_file = dir + "/stdout", err_file = dir + "/stderr";
  std::vector<std::string> all = {binary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(all.size() + 1);
  for (std::string& a : all) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  // Under LeakSanitizer the client binaries get the same single suppression as the test
  // binaries (c-ares's process-lifetime allocation); nothing of ours is suppressed.
  const std::string supp_file = dir + "/lsan.supp";
  std::ofstream(supp_file) << "leak:libcares.so\n";
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind("LSAN_OPTIONS=", 0) != 0) env_strings.push_back(*e);
  }
  env_strings.push_back("LSAN_OPTIONS=suppressions=" + supp_file + ":print_suppressions=0");
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& e : env_strings) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return o;
  }
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) {
      _exit(126);
    }
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (absl::Now() > deadline) {
      o.timed_out = true;
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.out = ReadAll(out_file);
  o.err = ReadAll(err_file);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return o;
}

Outcome Loadgen(const std::vector<std::string>& args) {
  return RunProcess(STOCHA_LOADGEN_BINARY, args);
}
Outcome Cli(const std::vector<std::string>& args) { return RunProcess(STOCHA_CLI_BINARY, args); }

// A loopback port nobody listens on: bound by the kernel's choice, then released.
int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

// The loadgen's --json output, or a failure naming what it printed instead.
nlohmann::json LoadgenJson(const Outcome& o) {
  nlohmann::json j = nlohmann::json::parse(o.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(j.is_object()) << o;
  return j.is_object() ? j : nlohmann::json::object();
}

// Every latency distribution is ordered (p50 <= p90 <= p99 <= max) and has `count` values.
void ExpectDistribution(const nlohmann::json& j, const std::string& name, int count) {
  SCOPED_TRACE(name);
  ASSERT_TRUE(j.contains(name)) << j.dump(2);
  const nlohmann::json& d = j[name];
  EXPECT_EQ(d.value("count", -1), count);
  EXPECT_LE(d.value("p50", 0.0), d.value("p90", 0.0));
  EXPECT_LE(d.value("p90", 0.0), d.value("p99", 0.0));
  EXPECT_LE(d.value("p99", 0.0), d.value("max", 0.0));
  if (count > 0) {
    EXPECT_GT(d.value("p50", 0.0), 0.0);
  }
}

int ErrorCount(const nlohmann::json& j) {
  int n = 0;
  if (!j.contains("errors")) {
    return -1;
  }
  for (const auto& [code, count] : j["errors"].items()) {
    n += count.get<int>();
  }
  return n;
}

class ClientBlackboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server and both clients read it: a developer's own token must not leak in.
    unsetenv("STOCHA_AUTH_TOKEN");
  }
  void TearDown() override {
    for (const std::string& f : temp_files_) {
      unlink(f.c_str());
    }
  }

  // A fresh file holding `contents` (parallel test processes share the temp directory),
  // removed after the test.
  std::string TempFile(const std::string& contents) {
    std::string path = ::testing::TempDir() + "/stocha-client-test-XXXXXX";
    const int fd = mkstemp(path.data());
    EXPECT_GE(fd, 0) << path;
    if (fd >= 0) {
      close(fd);
      temp_files_.push_back(path);
    }
    std::ofstream(path) << contents;
    return path;
  }

  // Starts the server (failing, not skipping, if it does not come up) and remembers it.
  bool StartServer(const std::vector<std::string>& flags = {}) {
    auto p = ServerProcess::Start(flags);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) {
      return false;
    }
    server_ = std::move(*p);
    target_ = server_->target();
    return true;
  }

  std::unique_ptr<ServerProcess> server_;
  std::string target_;
  std::vector<std::string> temp_files_;
};

// ---------------------------------------------------------------------------------------
// stocha-loadgen

TEST_F(ClientBlackboxTest, LoadgenStreamReportsEveryCallAndToken) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  const Outcome o = Loadgen({"--target=" + target_, "--json", "--progress=false", "--concurrency=4",
                             "--requests=8", "--max_new_tokens=16"});
  ASSERT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(o.err, "") << "--progress=false: nothing on stderr";
  const nlohmann::json j = LoadgenJson(o);
  EXPECT_EQ(j.value("rpc", ""), "stream");
  EXPECT_EQ(j.value("target", ""), target_);
  EXPECT_EQ(j.value("concurrency", -1), 4);
  EXPECT_EQ(j.value("n", -1), 1);
  EXPECT_EQ(j.value("ok", -1), 8);
  EXPECT_EQ(j.value("errors", nlohmann::json()), nlohmann::json::object());
  // --ignore_eos is on by default: exactly max_new_tokens per call.
  EXPECT_EQ(j.value("completion_tokens", -1), 8 * 16);
  EXPECT_GT(j.value("prompt_tokens_computed", -1), 0);
  EXPECT_GT(j.value("tokens_per_s", 0.0), 0.0);
  EXPECT_GT(j.value("requests_per_s", 0.0), 0.0);
  EXPECT_GT(j.value("wall_s", 0.0), 0.0);
  ASSERT_TRUE(j.contains("connect_ms")) << j.dump(2);
  EXPECT_GE(j.value("connect_ms", -1.0), 0.0);
  ExpectDistribution(j, "total_ms", 8);
  ExpectDistribution(j, "ttft_ms", 8);
  ExpectDistribution(j, "tpot_ms", 8);
}

TEST_F(ClientBlackboxTest, LoadgenGenerateCountsEverySampleButHasNoTtft) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  const Outcome o = Loadgen({"--target=" + target_, "--json", "--progress=false", "--concurrency=4",
                             "--requests=8", "--max_new_tokens=16", "--rpc=generate", "--n=2"});
  ASSERT_EQ(o.exit_code, 0) << o;
  const nlohmann::json j = LoadgenJson(o);
  EXPECT_EQ(j.value("rpc", ""), "generate");
  EXPECT_EQ(j.value("n", -1), 2);
  EXPECT_EQ(j.value("ok", -1), 8);
  EXPECT_EQ(ErrorCount(j), 0) << j.dump(2);
  EXPECT_EQ(j.value("completion_tokens", -1), 8 * 2 * 16);
  EXPECT_GT(j.value("tokens_per_s", 0.0), 0.0);
  ExpectDistribution(j, "total_ms", 8);
  // A unary call answers once: no first token to time, so no TTFT and no TPOT.
  ExpectDistribution(j, "ttft_ms", 0);
  ExpectDistribution(j, "tpot_ms", 0);
}

TEST_F(ClientBlackboxTest, LoadgenMultiSampleCountsAllSamplesAndThePromptOnce) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  const std::vector<std::string> common = {"--target=" + target_, "--json",
                                           "--progress=false",    "--concurrency=4",
                                           "--requests=8",        "--max_new_tokens=16"};
  std::vector<std::string> multi_args = common;
  multi_args.insert(multi_args.end(), {"--rpc=multi-sample", "--n=3"});
  const Outcome multi = Loadgen(multi_args);
  ASSERT_EQ(multi.exit_code, 0) << multi;
  const nlohmann::json m = LoadgenJson(multi);
  EXPECT_EQ(m.value("rpc", ""), "multi-sample");
  EXPECT_EQ(m.value("n", -1), 3);
  EXPECT_EQ(m.value("ok", -1), 8);
  EXPECT_EQ(ErrorCount(m), 0) << m.dump(2);
  // requests * n * max_new_tokens: every sample's tokens are work the server did.
  EXPECT_EQ(m.value("completion_tokens", -1), 8 * 3 * 16);
  ExpectDistribution(m, "total_ms", 8);
  ExpectDistribution(m, "ttft_ms", 8);
  ExpectDistribution(m, "tpot_ms", 8);

  // The prompt is computed once per call, as for a one-sample stream, not n times.
  const Outcome stream = Loadgen(common);
  ASSERT_EQ(stream.exit_code, 0) << stream;
  const nlohmann::json s = LoadgenJson(stream);
  EXPECT_GT(s.value("prompt_tokens_computed", -1), 0);
  EXPECT_EQ(m.value("prompt_tokens_computed", -1), s.value("prompt_tokens_computed", -2));
}

TEST_F(ClientBlackboxTest, LoadgenMultiSampleTimePerOutputTokenIsPerSample) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  // One call, so each distribution holds one value and TPOT must equal
  // (total - ttft) / (16 - 1): the 3 samples advance together, 16 tokens each.
  const Outcome o = Loadgen({"--target=" + target_, "--json", "--progress=false", "--requests=1",
                             "--max_new_tokens=16", "--rpc=multi-sample", "--n=3"});
  ASSERT_EQ(o.exit_code, 0) << o;
  const nlohmann::json j = LoadgenJson(o);
  ASSERT_EQ(j.value("completion_tokens", -1), 3 * 16) << j.dump(2);
  const double total = j["total_ms"].value("p50", 0.0);
  const double ttft = j["ttft_ms"].value("p50", 0.0);
  const double tpot = j["tpot_ms"].value("p50", 0.0);
  EXPECT_NEAR(tpot, (total - ttft) / 15, 1e-9 * total) << j.dump(2);
}

TEST_F(ClientBlackboxTest, LoadgenClosedLoopForADuration) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  const Outcome o = Loadgen({"--target=" + target_, "--json", "--progress=false", "--concurrency=2",
                             "--duration=1s", "--max_new_tokens=8"});
  ASSERT_EQ(o.exit_code, 0) << o;
  const nlohmann::json j = LoadgenJson(o);
  const int ok = j.value("ok", -1);
  EXPECT_GE(ok, 1);
  EXPECT_EQ(ErrorCount(j), 0) << j.dump(2);
  EXPECT_EQ(j.value("completion_tokens", -1), ok * 8);
  ExpectDistribution(j, "total_ms", ok);
}

TEST_F(ClientBlackboxTest, LoadgenOpenLoopStartsExactlyTheRequestedCalls) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  const Outcome o = Loadgen({"--target=" + target_, "--json", "--progress=false", "--rate=50",
                             "--requests=5", "--max_new_tokens=4"});
  ASSERT_EQ(o.exit_code, 0) << o;
  const nlohmann::json j = LoadgenJson(o);
  EXPECT_EQ(j.value("concurrency", -1), 0) << "open loop";
  EXPECT_EQ(j.value("rate", 0.0), 50.0);
  EXPECT_EQ(j.value("ok", -1), 5);
  EXPECT_EQ(j.value("completion_tokens", -1), 5 * 4);
}

TEST_F(ClientBlackboxTest, LoadgenTableIsTheDefaultOutput) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  const Outcome o = Loadgen({"--target=" + target_, "--progress=false", "--concurrency=2",
                             "--requests=3", "--max_new_tokens=4"});
  ASSERT_EQ(o.exit_code, 0) << o;
  EXPECT_TRUE(absl::StartsWith(o.out, "requests: 3 ok, 0 errors in ")) << o;
  for (const char* row :
       {"throughput:", "p50", "p99", "total", "time to first token", "time per output token"}) {
    EXPECT_TRUE(absl::StrContains(o.out, row)) << row << "\n" << o;
  }
}

TEST_F(ClientBlackboxTest, LoadgenUnreachableTargetFailsWithAMessage) {
  const std::string target = "127.0.0.1:" + std::to_string(UnusedPort());
  // The 15 s limit only stops a hang: a refused connection is reported after one retry.
  const Outcome o = RunProcess(STOCHA_LOADGEN_BINARY,
                               {"--target=" + target, "--json", "--progress=false", "--requests=1"},
                               absl::Seconds(15));
  ASSERT_FALSE(o.timed_out) << o;
  EXPECT_NE(o.exit_code, 0) << o;
  EXPECT_NE(o.exit_code, 2) << "not a usage error\n" << o;
  EXPECT_TRUE(absl::StrContains(o.err, "cannot connect to " + target)) << o;
  EXPECT_EQ(o.out, "") << "no report for a run that never started";
}

TEST_F(ClientBlackboxTest, LoadgenBadFlagsAreUsageErrorsNamingTheFlag) {
  // Checked before connecting: no server needed.
  const std::string target = "--target=127.0.0.1:" + std::to_string(UnusedPort());
  struct Case {
    std::string flag, expected;
  };
  for (const Case& c : std::vector<Case>{{"--concurrency=0", "--concurrency"},
                                         {"--concurrency=-2", "--concurrency"},
                                         {"--rpc=bogus", "--rpc"},
                                         {"--requests=-1", "--requests"},
                                         {"--rate=-5", "--rate"},
                                         {"--duration=0s", "--duration"}}) {
    SCOPED_TRACE(c.flag);
    const Outcome o = Loadgen({target, "--progress=false", c.flag});
    EXPECT_EQ(o.exit_code, 2) << o;
    EXPECT_TRUE(absl::StrContains(o.err, c.expected)) << o;
    EXPECT_EQ(o.out, "") << o;
  }
  const Outcome o = Loadgen({target, "--rpc=bogus"});
  EXPECT_TRUE(absl::StrContains(o.err, "bogus")) << o;
}

TEST_F(ClientBlackboxTest, LoadgenOverloadReportsResourceExhaustedByCode) {
  REQUIRE_MODEL();
  // Room for one running and one queued request; each takes >= 9 steps of 20 ms, while
  // the 16 calls all start at once: most are refused.
  ASSERT_TRUE(StartServer({"--max_batch_size=1", "--max_queue=1", "--testing_step_delay=20ms"}));
  const Outcome o = RunProcess(STOCHA_LOADGEN_BINARY,
                               {"--target=" + target_, "--json", "--progress=false",
                                "--concurrency=16", "--requests=16", "--max_new_tokens=8"},
                               absl::Seconds(60));
  ASSERT_FALSE(o.timed_out) << o;
  EXPECT_EQ(o.exit_code, 1) << "errors: exit 1\n" << o;
  const nlohmann::json j = LoadgenJson(o);
  const nlohmann::json errors = j.value("errors", nlohmann::json::object());
  EXPECT_GE(errors.value("RESOURCE_EXHAUSTED", 0), 1) << j.dump(2);
  EXPECT_EQ(errors.size(), 1u) << "only RESOURCE_EXHAUSTED expected\n" << j.dump(2);
  const int ok = j.value("ok", -1);
  EXPECT_GE(ok, 1) << j.dump(2);
  EXPECT_EQ(ok + ErrorCount(j), 16) << "every started call is reported\n" << j.dump(2);
  EXPECT_EQ(j.value("completion_tokens", -1), ok * 8) << "refused calls carry no tokens";
  ExpectDistribution(j, "total_ms", ok);
  EXPECT_EQ(server_->WaitServing(absl::Seconds(5)), absl::OkStatus()) << server_->Log();
}

TEST_F(ClientBlackboxTest, LoadgenSendsTheBearerToken) {
  REQUIRE_MODEL();
  const std::string token_file = TempFile("loadgen-secret\n");
  ASSERT_TRUE(StartServer({"--auth_token_file=" + token_file}));
  const std::vector<std::string> args = {"--target=" + target_, "--json", "--progress=false",
                                         "--requests=2", "--max_new_tokens=4"};
  const Outcome denied = Loadgen(args);
  EXPECT_EQ(denied.exit_code, 1) << denied;
  EXPECT_EQ(LoadgenJson(denied).value("errors", nlohmann::json()),
            (nlohmann::json{{"UNAUTHENTICATED", 2}}));
  std::vector<std::string> with_token = args;
  with_token.push_back("--token_file=" + token_file);
  const Outcome allowed = Loadgen(with_token);
  ASSERT_EQ(allowed.exit_code, 0) << allowed;
  EXPECT_EQ(LoadgenJson(allowed).value("ok", -1), 2);
}

// ---------------------------------------------------------------------------------------
// stocha-cli

TEST_F(ClientBlackboxTest, CliHealthPrintsServing) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  const Outcome o = Cli({"--target=" + target_, "health"});
  EXPECT_EQ(o.exit_code, 0) << o;
  EXPECT_EQ(o.out, "SERVING\n") << o;
}

TEST_F(ClientBlackboxTest, CliInfoPrintsTheServedModel) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer({"--max_n=4"}));
  const Outcome o = Cli({"--target=" + target_, "info"});
  ASSERT_EQ(o.exit_code, 0) << o;
  const nlohmann::json j = nlohmann::json::parse(o.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << o;
  // stories260K: llama2.c, vocabulary 512, dim 64, 5 layers, 8 heads (4 KV heads).
  EXPECT_EQ(j.value("architecture", ""), "llama");
  EXPECT_EQ(j.value("vocabSize", -1), 512);
  EXPECT_EQ(j.value("hiddenSize", -1), 64);
  EXPECT_EQ(j.value("numLayers", -1), 5);
  EXPECT_EQ(j.value("numHeads", -1), 8);
  EXPECT_EQ(j.value("numKvHeads", -1), 4);
  EXPECT_TRUE(absl::StrContains(j.value("source", ""), "stories260K")) << o;
  ASSERT_TRUE(j.contains("limits")) << o;
  EXPECT_EQ(j["limits"].value("maxN", -1), 4) << "this server's --max_n";
}

TEST_F(ClientBlackboxTest, CliGenerateAndStreamPrintTheSameGreedyText) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  const std::vector<std::string> flags = {"--target=" + target_, "--max_new_tokens=16",
                                          "--temperature=0", "--ignore_eos"};
  std::vector<std::string> generate = flags;
  generate.insert(generate.end(), {"generate", "Once", "upon", "a", "time"});
  const Outcome g = Cli(generate);
  ASSERT_EQ(g.exit_code, 0) << g;
  ASSERT_TRUE(absl::EndsWith(g.out, "\n")) << g;
  const std::string text = g.out.substr(0, g.out.size() - 1);
  EXPECT_FALSE(text.empty()) << g;
  EXPECT_TRUE(absl::StrContains(g.err, "finish: length")) << g;
  EXPECT_TRUE(absl::StrContains(g.err, "completion 16 tokens")) << g;

  // The same request as JSON: the text above is its only sample's text.
  std::vector<std::string> as_json = flags;
  as_json.insert(as_json.end(), {"--json", "--prompt=Once upon a time", "generate"});
  const Outcome js = Cli(as_json);
  ASSERT_EQ(js.exit_code, 0) << js;
  const nlohmann::json j = nlohmann::json::parse(js.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << js;
  ASSERT_EQ(j.value("samples", nlohmann::json::array()).size(), 1u) << js;
  EXPECT_EQ(j["samples"][0].value("text", ""), text);
  EXPECT_EQ(j["usage"].value("completionTokens", -1), 16) << js;

  // Streamed: the chunks printed as they come add up to the same text.
  std::vector<std::string> stream = flags;
  stream.insert(stream.end(), {"stream", "Once upon a time"});
  const Outcome s = Cli(stream);
  ASSERT_EQ(s.exit_code, 0) << s;
  EXPECT_EQ(s.out, text) << s;
  EXPECT_TRUE(absl::StrContains(s.err, "finish: length")) << s;
  EXPECT_TRUE(absl::StrContains(s.err, "completion 16 tokens")) << s;
}

TEST_F(ClientBlackboxTest, CliMultiSamplePrintsEachSample) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  const Outcome o = Cli({"--target=" + target_, "--max_new_tokens=8", "--ignore_eos", "--n=2",
                         "--seed=7", "multi-sample", "Once upon a time"});
  ASSERT_EQ(o.exit_code, 0) << o;
  EXPECT_TRUE(absl::StrContains(o.out, "--- sample 0 (length) ---\n")) << o;
  EXPECT_TRUE(absl::StrContains(o.out, "--- sample 1 (length) ---\n")) << o;
  const std::vector<std::string> headers = absl::StrSplit(o.out, "--- sample ", absl::SkipEmpty());
  EXPECT_EQ(headers.size(), 2u) << "two samples, each printed once\n" << o;
  EXPECT_TRUE(absl::StrContains(o.err, "completion 16 tokens")) << "2 x 8\n" << o;

  // Generate with n = 2 prints the same headers, all at the end.
  const Outcome g = Cli({"--target=" + target_, "--max_new_tokens=8", "--ignore_eos", "--n=2",
                         "generate", "Once upon a time"});
  ASSERT_EQ(g.exit_code, 0) << g;
  EXPECT_TRUE(absl::StrContains(g.out, "--- sample 0 (length) ---\n")) << g;
  EXPECT_TRUE(absl::StrContains(g.out, "--- sample 1 (length) ---\n")) << g;
}

TEST_F(ClientBlackboxTest, CliTokenizeAndDetokenizeRoundTrip) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  const Outcome t = Cli({"--target=" + target_, "tokenize", "Once upon a time"});
  ASSERT_EQ(t.exit_code, 0) << t;
  const nlohmann::json ids =
      nlohmann::json::parse(t.out, nullptr, false).value("tokenIds", nlohmann::json::array());
  ASSERT_FALSE(ids.empty()) << t;
  std::vector<std::string> args = {"--target=" + target_, "detokenize"};
  for (const nlohmann::json& id : ids) {
    args.push_back(std::to_string(id.get<int>()));
  }
  const Outcome d = Cli(args);
  ASSERT_EQ(d.exit_code, 0) << d;
  EXPECT_EQ(nlohmann::json::parse(d.out, nullptr, false).value("text", ""), "Once upon a time")
      << d;
}

TEST_F(ClientBlackboxTest, CliInvalidFieldIsAnRpcErrorNamingTheField) {
  REQUIRE_MODEL();
  ASSERT_TRUE(StartServer());
  struct Case {
    std::string flag, field;
  };
  for (const Case& c : std::vector<Case>{{"--temperature=-1", "temperature"},
                                         {"--top_p=2", "top_p"},
                                         {"--max_new_tokens=100000", "max_new_tokens"}}) {
    SCOPED_TRACE(c.flag);
    const Outcome o = Cli({"--target=" + target_, c.flag, "generate", "Once"});
    EXPECT_EQ(o.exit_code, 1) << "an RPC error\n" << o;
    EXPECT_TRUE(absl::StartsWith(o.err, "stocha-cli: INVALID_ARGUMENT: ")) << o;
    EXPECT_TRUE(absl::StrContains(o.err, c.field)) << o;
    EXPECT_EQ(o.out, "") << o;
  }
}

TEST_F(ClientBlackboxTest, CliNeedsTheBearerTokenExceptForHealth) {
  REQUIRE_MODEL();
  const std::string token_file = TempFile("cli-secret\n");
  ASSERT_TRUE(StartServer({"--auth_token_file=" + token_file}));
  const Outcome health = Cli({"--target=" + target_, "health"});
  EXPECT_EQ(health.exit_code, 0) << health;
  const Outcome denied = Cli({"--target=" + target_, "info"});
  EXPECT_EQ(denied.exit_code, 1) << denied;
  EXPECT_TRUE(absl::StartsWith(denied.err, "stocha-cli: UNAUTHENTICATED: ")) << denied;
  const Outcome allowed = Cli({"--target=" + target_, "--token_file=" + token_file, "info"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed;
}

TEST_F(ClientBlackboxTest, CliUnreachableTargetIsAnRpcErrorWithAMessage) {
  const std::string target = "127.0.0.1:" + std::to_string(UnusedPort());
  for (const char* cmd : {"health", "generate"}) {
    SCOPED_TRACE(cmd);
    // A refused connection fails the call at once; 15 s only stops a hang.
    const Outcome o =
        RunProcess(STOCHA_CLI_BINARY, {"--target=" + target, cmd, "Once"}, absl::Seconds(15));
    ASSERT_FALSE(o.timed_out) << o;
    EXPECT_EQ(o.exit_code, 1) << o;
    EXPECT_TRUE(absl::StartsWith(o.err, "stocha-cli: UNAVAILABLE: ")) << o;
    EXPECT_EQ(o.out, "") << o;
  }
}

TEST_F(ClientBlackboxTest, CliBadUsageExitsTwo) {
  // Caught before any call: no server needed.
  const std::string target = "--target=127.0.0.1:" + std::to_string(UnusedPort());
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {{target}, "no command"},
           {{target, "frobnicate"}, "unknown command 'frobnicate'"},
           {{target, "detokenize", "12", "x"}, "'x' is not a token id"},
           {{target, "--activation=stocha:half", "generate", "Hi"}, "--activation"},
           {{target, "--tls_ca=/nonexistent/ca.pem", "health"}, "/nonexistent/ca.pem"},
           {{target, "--tls_cert=/nonexistent/c.pem", "--tls_key=/nonexistent/k.pem", "health"},
            "/nonexistent/c.pem"},
           // A key alone must not quietly fall back to plaintext.
           {{target, "--tls_key=/nonexistent/k.pem", "health"}, "needs its key"}}) {
    SCOPED_TRACE(c.expected);
    const Outcome o = Cli(c.args);
    EXPECT_EQ(o.exit_code, 2) << o;
    EXPECT_TRUE(absl::StrContains(o.err, c.expected)) << o;
  }
}

}  // namespace
}  // namespace stocha::server::testing
