// Drives many concurrent calls (closed loop) or a request rate (open loop) and records them.
#ifndef STOCHA_CLIENT_LOAD_DRIVER_H_
#define STOCHA_CLIENT_LOAD_DRIVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "client/latency_stats.h"
#include "stocha/v1/stocha.grpc.pb.h"

namespace stocha::client {

enum class LoadRpc { kStream, kGenerate, kMultiSample };

struct LoadOptions {
  int concurrency = 1;  // closed loop: calls in flight (when rate == 0)
  double rate = 0;      // open loop: calls started per second (fixed interval)
  absl::Duration duration = absl::Seconds(10);  // no new call after this ...
  int requests = 0;  // ... or after this many calls (0: by duration only)
  absl::Duration deadline = absl::Seconds(120);
  LoadRpc rpc = LoadRpc::kStream;
  bool progress = true;  // a progress line on stderr every second
  v1::GenerateRequest request;
};

// Thread-safety: Run() once, from one thread; call reactors report back under mu_.
class LoadDriver {
 public:
  LoadDriver(const std::shared_ptr<grpc::Channel>& channel, ChannelOptions channel_options,
             LoadOptions options);
  // Blocks until every started call finished; `wall_s` is first start to last finish.
  std::vector<CallResult> Run(double* wall_s);

  void Done(const CallResult& result);  // from the call reactors

 private:
  bool MayStart(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts a new call if one may start; then Launch() it without holding mu_ (gRPC is
  // never called under our lock).
  bool Reserve(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void Launch();
  void PrintProgress(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<v1::Stocha::Stub> stub_;
  const ChannelOptions channel_options_;
  const LoadOptions options_;
  absl::Time start_;
  absl::Time end_;  // last finish

  absl::Mutex mu_;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<CallResult> results_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stocha::client

#endif  // STOCHA_CLIENT_LOAD_DRIVER_H_
