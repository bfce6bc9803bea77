// Small client-side helpers for the black-box tests: contexts, requests, stream collection.
#ifndef STOCHA_TESTS_SERVER_RPC_HELPERS_H_
#define STOCHA_TESTS_SERVER_RPC_HELPERS_H_

#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "stocha/v1/stocha.grpc.pb.h"

namespace stocha::server::testing {

inline std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(60)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return ctx;
}

inline v1::GenerateRequest Request(const std::string& prompt, int max_new_tokens,
                                   std::optional<float> temperature = 0.0f,
                                   std::optional<uint64_t> seed = std::nullopt) {
  v1::GenerateRequest r;
  r.set_prompt(prompt);
  r.set_max_new_tokens(max_new_tokens);
  if (temperature) {
    r.mutable_sampling()->set_temperature(*temperature);
  }
  if (seed) {
    r.mutable_sampling()->set_seed(*seed);
  }
  return r;
}

struct StreamResult {
  grpc::Status status;
  std::map<uint32_t, std::string> text;
  std::map<uint32_t, std::vector<int>> tokens;
  std::map<uint32_t, v1::FinishReason> finish;
  std::optional<v1::GenerateResponse> summary;
  int messages = 0;
  bool message_after_summary = false;
};

// Reads a GenerateStream / MultiSample call to the end (`stop_after` > 0: cancel after that
// many messages).
inline StreamResult ReadStream(grpc::ClientContext* ctx,
                               grpc::ClientReaderInterface<v1::GenerateChunk>* reader,
                               int stop_after = 0) {
  StreamResult r;
  v1::GenerateChunk c;
  while (reader->Read(&c)) {
    ++r.messages;
    if (r.summary) {
      r.message_after_summary = true;
    }
    if (c.has_summary()) {
      r.summary = c.summary();
      continue;
    }
    r.text[c.sample_index()] += c.text();
    r.tokens[c.sample_index()].insert(r.tokens[c.sample_index()].end(), c.token_ids().begin(),
                                      c.token_ids().end());
    if (c.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      r.finish[c.sample_index()] = c.finish_reason();
    }
    if (stop_after > 0 && r.messages >= stop_after) {
      ctx->TryCancel();
    }
  }
  r.status = reader->Finish();
  return r;
}

// A plain HTTP/1.0 GET on loopback (the metrics port); the whole response, status line
// included, or "" if nothing listens.
inline std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

inline std::vector<int> Ids(const google::protobuf::RepeatedField<int32_t>& ids) {
  return std::vector<int>(ids.begin(), ids.end());
}

}  // namespace stocha::server::testing

#endif  // STOCHA_TESTS_SERVER_RPC_HELPERS_H_
