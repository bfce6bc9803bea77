// Unit tests of the clients' channel helpers: status code names, bearer tokens, TLS options.
#include "client/channel.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace stocha::client {
namespace {

// A fresh file holding `contents` (parallel test processes share the temp directory),
// removed when it goes out of scope.
class TempFile {
 public:
  explicit TempFile(const std::string& contents)
      : path_(::testing::TempDir() + "/stocha-channel-test-XXXXXX") {
    const int fd = mkstemp(path_.data());
    EXPECT_GE(fd, 0) << path_;
    if (fd >= 0) {
      close(fd);
    }
    std::ofstream(path_, std::ios::binary) << contents;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(StatusCodeNameTest, EveryCodeHasItsName) {
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::CANCELLED), "CANCELLED");
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::INVALID_ARGUMENT), "INVALID_ARGUMENT");
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::FAILED_PRECONDITION), "FAILED_PRECONDITION");
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::UNIMPLEMENTED), "UNIMPLEMENTED");
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::UNAVAILABLE), "UNAVAILABLE");
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_STREQ(StatusCodeName(static_cast<grpc::StatusCode>(17)), "UNKNOWN_CODE");
  EXPECT_STREQ(StatusCodeName(static_cast<grpc::StatusCode>(-1)), "UNKNOWN_CODE");
}

TEST(LoadTokenTest, FromFileWithoutSurroundingWhitespace) {
  const TempFile file("  s3cret\n");
  absl::StatusOr<std::string> token = LoadToken(file.path());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "s3cret");
}

TEST(LoadTokenTest, FileBeatsEnvironmentWhichBeatsNothing) {
  ASSERT_EQ(setenv("STOCHA_AUTH_TOKEN", " from-env ", 1), 0);
  EXPECT_EQ(LoadToken("").value_or("?"), "from-env");
  const TempFile file("from-file");
  EXPECT_EQ(LoadToken(file.path()).value_or("?"), "from-file");
  ASSERT_EQ(unsetenv("STOCHA_AUTH_TOKEN"), 0);
  EXPECT_EQ(LoadToken("").value_or("?"), "");
}

TEST(LoadTokenTest, MissingFileIsAnErrorNamingIt) {
  absl::StatusOr<std::string> token = LoadToken("/nonexistent/stocha-token");
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(token.status().message().find("/nonexistent/stocha-token"), std::string::npos);
}

TEST(MakeChannelTest, PlaintextAndSystemRootsNeedNoFiles) {
  ChannelOptions o;
  o.target = "127.0.0.1:1";
  EXPECT_TRUE(MakeChannel(o).ok());
  o.tls = true;
  EXPECT_TRUE(MakeChannel(o).ok());
}

TEST(MakeChannelTest, MissingCaFileIsAnError) {
  ChannelOptions o;
  o.tls_ca_file = "/nonexistent/ca.pem";
  absl::StatusOr<std::shared_ptr<grpc::Channel>> c = MakeChannel(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(MakeChannelTest, ClientCertificateNeedsItsKey) {
  ChannelOptions o;
  const TempFile cert("not really a certificate"), key("not really a key");
  o.tls_cert_file = cert.path();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> c = MakeChannel(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  o.tls_cert_file.clear();
  o.tls_key_file = key.path();
  EXPECT_EQ(MakeChannel(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PrepareContextTest, AlwaysSetsADeadline) {
  grpc::ClientContext ctx;
  const auto before = std::chrono::system_clock::now();
  PrepareContext(&ctx, ChannelOptions{}, absl::Seconds(30));
  // A deadline 30 s after `before`, give or take the call itself: never "infinite".
  EXPECT_GE(ctx.deadline(), before + std::chrono::seconds(29));
  EXPECT_LT(ctx.deadline(), before + std::chrono::seconds(3600));
}

}  // namespace
}  // namespace stocha::client
