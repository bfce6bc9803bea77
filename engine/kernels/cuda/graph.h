// DeviceGraph: a step's kernel launches captured once as a CUDA graph and replayed.
#ifndef STOCHA_ENGINE_KERNELS_CUDA_GRAPH_H_
#define STOCHA_ENGINE_KERNELS_CUDA_GRAPH_H_

// A plain header (no CUDA types), like device.h. Capture and replay use the calling
// thread's stream (device.h): the per-thread default stream, where every launch and
// asynchronous copy of kernels/cuda/ goes.

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stocha::cuda {

// An instantiated graph (cudaGraphExec_t), destroyed with the object. A replay runs the
// captured kernels with the arguments they had at capture: the same device pointers and
// scalars. So what changes between replays must live in device memory (copied in before
// Launch), and whatever decided the launch sequence (row count, path, kernel knobs) must
// be part of the caller's key for the graph. Thread-safety: like a std::vector; capture
// and launch from the thread that drives the device work.
class DeviceGraph {
 public:
  // Runs `launches` with the calling thread's stream in capture mode (thread-local
  // capture: other threads' CUDA calls are not restricted), then instantiates what it
  // enqueued. Nothing runs on the device during capture. If `launches` returns an error,
  // or a call inside is not capturable (a synchronous copy, a device synchronize), the
  // capture is ended and discarded and the error returned, naming the call; the stream is
  // usable again afterwards. Inside `launches`, DeviceEvents::Record becomes an event
  // node of the graph, so per-layer times still work on replay.
  static absl::StatusOr<DeviceGraph> Capture(absl::FunctionRef<absl::Status()> launches);

  DeviceGraph() = default;
  DeviceGraph(DeviceGraph&& o) noexcept;
  DeviceGraph& operator=(DeviceGraph&& o) noexcept;
  DeviceGraph(const DeviceGraph&) = delete;
  DeviceGraph& operator=(const DeviceGraph&) = delete;
  ~DeviceGraph();

  bool empty() const { return exec_ == nullptr; }
  // Enqueues one replay on the calling thread's stream (asynchronous: an error inside a
  // kernel surfaces at the next synchronising call, as for plain launches).
  absl::Status Launch() const;

 private:
  void Destroy();
  void* exec_ = nullptr;  // cudaGraphExec_t, kept out of this plain header
};

// True while the calling thread's stream is capturing (DeviceEvents::Record asks).
bool StreamIsCapturing();

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_GRAPH_H_
