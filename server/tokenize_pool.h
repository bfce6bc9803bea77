// A few low-priority threads with a bounded queue for the work a request's text costs.
#ifndef STOCHA_SERVER_TOKENIZE_POOL_H_
#define STOCHA_SERVER_TOKENIZE_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace stocha::server {

// Tokenizing a prompt of megabytes takes seconds. On a gRPC thread it would hold up
// unrelated calls (health checks among them); here it waits its turn, and a full queue
// refuses at once. The threads run at nice +10 so that, on a busy machine, the gRPC and
// inference threads go first. Thread-safety: TrySubmit may be called from any thread.
class TokenizePool {
 public:
  TokenizePool(int threads, int max_queued);
  ~TokenizePool();  // runs what is still queued, then joins
  TokenizePool(const TokenizePool&) = delete;
  TokenizePool& operator=(const TokenizePool&) = delete;

  // False (and `task` is dropped) when max_queued tasks already wait.
  bool TrySubmit(std::function<void()> task);

 private:
  void Loop();

  const size_t max_queued_;
  std::mutex mu_;  // guards tasks_ and stop_
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_TOKENIZE_POOL_H_
