// Counts the open calls of one gRPC service, so that a drain can wait for exactly those.
#ifndef STOCHA_SERVER_CALL_TRACKER_H_
#define STOCHA_SERVER_CALL_TRACKER_H_

#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace stocha::server {

// gRPC's Shutdown(deadline) waits for every call and connection, health Watch streams
// included, which never end by themselves: a drain that waited for them would always take
// the whole deadline. The drain waits for the calls counted here instead (a call counts
// from its start until gRPC destroys its context, after the reactor's OnDone), then cuts
// the rest. An interceptor per call costs one allocation and two atomic adds.
// Thread-safety: all methods may be called concurrently.
class CallTracker {
 public:
  // Counts the calls whose method starts with `prefix` (e.g. "/stocha.v1.Stocha/").
  explicit CallTracker(std::string prefix) : prefix_(std::move(prefix)) {}

  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewFactory() {
    return std::make_unique<Factory>(this);
  }
  int open() const { return open_.load(std::memory_order_acquire); }
  // True once no counted call is open; false at `deadline`.
  bool WaitNone(absl::Time deadline) const {
    while (open() > 0) {
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

 private:
  class Counted final : public grpc::experimental::Interceptor {
   public:
    explicit Counted(std::atomic<int>* open) : open_(open) { open_->fetch_add(1); }
    ~Counted() override { open_->fetch_sub(1, std::memory_order_release); }
    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
      methods->Proceed();
    }

   private:
    std::atomic<int>* const open_;
  };
  class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
   public:
    explicit Factory(CallTracker* tracker) : tracker_(tracker) {}
    grpc::experimental::Interceptor* CreateServerInterceptor(
        grpc::experimental::ServerRpcInfo* info) override {
      const std::string& p = tracker_->prefix_;
      if (info->method() == nullptr || std::strncmp(info->method(), p.data(), p.size()) != 0) {
        return nullptr;
      }
      return new Counted(&tracker_->open_);
    }

   private:
    CallTracker* const tracker_;
  };

  const std::string prefix_;
  std::atomic<int> open_{0};
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_CALL_TRACKER_H_
