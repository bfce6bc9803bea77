// DeviceGraph over the CUDA runtime's stream capture (cudaStreamBeginCapture ... Instantiate).
#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"
#include "engine/kernels/cuda/cuda_status.h"
#include "engine/kernels/cuda/graph.h"

namespace stocha::cuda {
namespace {

// The stream every kernels/cuda/ launch goes to: this file, like the others, is compiled
// with --default-stream per-thread, so `0` would mean the same; named here for the reader.
cudaStream_t Stream() { return cudaStreamPerThread; }

// Ends a capture that went wrong and drops whatever it recorded, so the stream leaves
// capture mode (a stream left capturing refuses every later synchronous call).
void AbandonCapture() {
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(Stream(), &graph) == cudaSuccess && graph != nullptr) {
    cudaGraphDestroy(graph);
  }
  // An invalidated capture leaves its error (cudaErrorStreamCaptureInvalidated, ...) as
  // the thread's last error; these are not sticky, so clear it for the next launch check.
  cudaGetLastError();
}

}  // namespace

bool StreamIsCapturing() {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(Stream(), &status) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return status != cudaStreamCaptureStatusNone;
}

absl::StatusOr<DeviceGraph> DeviceGraph::Capture(absl::FunctionRef<absl::Status()> launches) {
  // Thread-local mode: only this thread's unsafe calls (cudaMalloc, synchronous copies)
  // are refused during the capture; a thread elsewhere in the process is unaffected.
  absl::Status s = CudaStatus(cudaStreamBeginCapture(Stream(), cudaStreamCaptureModeThreadLocal),
                              "cudaStreamBeginCapture");
  if (!s.ok()) return s;
  s = launches();
  if (!s.ok()) {
    AbandonCapture();
    return absl::Status(s.code(), absl::StrCat("during CUDA graph capture: ", s.message()));
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(Stream(), &graph);
  if (end != cudaSuccess || graph == nullptr) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();
    return CudaStatus(end != cudaSuccess ? end : cudaErrorStreamCaptureInvalidated,
                      "cudaStreamEndCapture");
  }
  cudaGraphExec_t exec = nullptr;
  s = CudaStatus(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  // The executable graph is a copy: the template is not needed after instantiation.
  cudaGraphDestroy(graph);
  if (!s.ok()) {
    cudaGetLastError();
    return s;
  }
  DeviceGraph g;
  g.exec_ = exec;
  return g;
}

DeviceGraph::DeviceGraph(DeviceGraph&& o) noexcept : exec_(o.exec_) { o.exec_ = nullptr; }

DeviceGraph& DeviceGraph::operator=(DeviceGraph&& o) noexcept {
  if (this != &o) {
    Destroy();
    exec_ = o.exec_;
    o.exec_ = nullptr;
  }
  return *this;
}

DeviceGraph::~DeviceGraph() { Destroy(); }

void DeviceGraph::Destroy() {
  if (exec_ != nullptr) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  exec_ = nullptr;
}

absl::Status DeviceGraph::Launch() const {
  if (exec_ == nullptr) return absl::FailedPreconditionError("DeviceGraph::Launch: empty graph");
  return CudaStatus(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), Stream()),
                    "cudaGraphLaunch");
}

}  // namespace stocha::cuda
