// TokenizePool: a fixed set of nice'd threads draining a bounded FIFO.
#include "server/tokenize_pool.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>

namespace stocha::server {

TokenizePool::TokenizePool(int threads, int max_queued)
    : max_queued_(static_cast<size_t>(max_queued > 0 ? max_queued : 1)) {
  for (int i = 0; i < (threads > 0 ? threads : 1); ++i) {
    threads_.emplace_back([this] {
      // Linux nice values are per thread; failure only loses the priority hint.
      (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
      Loop();
    });
  }
}

TokenizePool::~TokenizePool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

bool TokenizePool::TrySubmit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (tasks_.size() >= max_queued_) {
      return false;
    }
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void TokenizePool::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) {
        return;  // stop_ and nothing left
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace stocha::server
