// Runs one tiny request through the scheduler before the server reports SERVING.
#ifndef STOCHA_SERVER_WARMUP_H_
#define STOCHA_SERVER_WARMUP_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/scheduler.h"

namespace stocha::server {

// Prefills [BOS] and generates a few tokens (faults weights in, sizes scratch buffers,
// starts the worker threads), proving the whole path works. Blocks until done or timeout.
absl::Status WarmUp(Scheduler& scheduler, absl::Duration timeout = absl::Minutes(5));

}  // namespace stocha::server

#endif  // STOCHA_SERVER_WARMUP_H_
