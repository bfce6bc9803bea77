// ServerProcess: fork/exec, port file, health polling, signals.
#include "tests/server/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace stocha::server::testing {
namespace {

// An idle gRPC C-core channel reads its socket only at the backup poll (5 s by default), so
// it would notice a draining server's GOAWAY late and hold the server's shutdown up.
const bool kFastBackupPoll = [] {
  setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "50", /*overwrite=*/0);
  return true;
}();

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string TestModelPath() {
  return std::string(STOCHA_SHARED_DIR) + "/data/stories260K/stories260K.bin";
}
std::string TestTokenizerPath() {
  return std::string(STOCHA_SHARED_DIR) + "/data/stories260K/tok512.bin";
}
bool HaveTestModel() { return access(TestModelPath().c_str(), R_OK) == 0; }

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& flags, bool wait_serving,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return StartWithModel({"--model=" + TestModelPath(), "--tokenizer=" + TestTokenizerPath()}, flags,
                        wait_serving, std::move(credentials));
}

int ServerProcess::metrics_port() const {
  const std::string text = ReadAll(dir_ + "/metrics_port");
  return text.empty() ? 0 : std::stoi(text);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartWithModel(
    const std::vector<std::string>& model_flags, const std::vector<std::string>& flags,
    bool wait_serving, std::shared_ptr<grpc::ChannelCredentials> credentials) {
  auto p = std::unique_ptr<ServerProcess>(new ServerProcess());
  p->credentials_ = std::move(credentials);
  // A fresh directory every time: a name built from the pid can be left over from an
  // earlier test process with the same (reused) pid, and its stale port file would send
  // this test to a port nobody listens on.
  std::string dir = ::testing::TempDir() + "/stocha-server-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    return absl::InternalError("mkdtemp failed for " + dir);
  }
  p->dir_ = dir;
  const std::string port_file = p->dir_ + "/port";
  const std::string log_file = p->dir_ + "/server.log";
  std::vector<std::string> args = {STOCHA_SERVER_BINARY};
  args.insert(args.end(), model_flags.begin(), model_flags.end());
  args.insert(args.end(), {"--host=127.0.0.1", "--port=0", "--port_file=" + port_file,
                           "--threads=1", "--metrics_host=127.0.0.1", "--metrics_port=0",
                           "--metrics_port_file=" + p->dir_ + "/metrics_port"});
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    const int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  p->pid_ = pid;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (access(port_file.c_str(), R_OK) != 0) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      p->pid_ = -1;
      return absl::InternalError("stocha-server exited early:\n" + ReadAll(log_file));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("no port file in time");
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  p->port_ = std::stoi(ReadAll(port_file));
  p->channel_ = p->NewChannel();
  if (wait_serving) {
    if (absl::Status st = p->WaitServing(absl::Seconds(30)); !st.ok()) {
      return absl::DeadlineExceededError(absl::StrCat(st.message(), "\n", p->Log()));
    }
  }
  return p;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // its own connection
  return grpc::CreateCustomChannel(
      target(), credentials_ ? credentials_ : grpc::InsecureChannelCredentials(), args);
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> ServerProcess::Health() const {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  return resp.status();
}

absl::Status ServerProcess::WaitServing(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last = absl::DeadlineExceededError("no health answer yet");
  while (absl::Now() < deadline) {
    auto h = Health();
    if (h.ok() && *h == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    last = h.ok() ? absl::UnavailableError("health NOT_SERVING") : h.status();
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrFormat(
      "not SERVING on %s in time; last health answer: %s", target(), last.ToString()));
}

void ServerProcess::Signal(int signal) const {
  if (pid_ > 0) {
    kill(pid_, signal);
  }
}

absl::StatusOr<int> ServerProcess::WaitExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("the server did not exit");
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return absl::FailedPreconditionError("not running");
}

std::string ServerProcess::Log() const { return ReadAll(dir_ + "/server.log"); }

}  // namespace stocha::server::testing
