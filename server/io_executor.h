// One thread that makes gRPC calls (StartWrite, Finish) for the inference thread.
#ifndef STOCHA_SERVER_IO_EXECUTOR_H_
#define STOCHA_SERVER_IO_EXECUTOR_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace stocha::server {

// gRPC serializes and writes to the socket on the thread that starts a write, which would
// add that cost to every engine step. Reactors post their StartWrite/Finish here instead.
// Tasks run in order. Thread-safety: Post may be called from any thread.
class IoExecutor {
 public:
  IoExecutor();
  ~IoExecutor();  // runs what is still queued, then joins
  IoExecutor(const IoExecutor&) = delete;
  IoExecutor& operator=(const IoExecutor&) = delete;

  void Post(std::function<void()> task);

 private:
  void Loop();

  std::mutex mu_;  // guards tasks_ and stop_
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_IO_EXECUTOR_H_
