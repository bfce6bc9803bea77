// The CUDA device as the engine sees it: whether one is there, device memory, copies, timing.
#ifndef STOCHA_ENGINE_KERNELS_CUDA_DEVICE_H_
#define STOCHA_ENGINE_KERNELS_CUDA_DEVICE_H_

// A plain header (no CUDA types): the engine and the tests include it with any compiler.
// Every call here runs on the calling thread's current device and on that thread's
// per-thread default stream (cudaStreamPerThread: every .cu of kernels/cuda/ is compiled
// with nvcc --default-stream per-thread), so kernels launched through kernels/cuda/ run
// in issue order, a synchronous copy waits for them, and the sequence can be captured
// into a CUDA graph (graph.h; capture is refused on the legacy default stream). Work
// issued on one thread is not ordered with another thread's: a caller that hands the
// device to another thread synchronizes first (CudaForward::Create does).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stocha::cuda {

// How many GPUs this process can use; 0 when there is no driver or no device, with the
// driver's reason in `why` (tests print it when they skip).
int DeviceCount(std::string* why);

// "NVIDIA H200, sm_90, 139.8 GiB" for reports; an error when `ordinal` does not exist.
absl::StatusOr<std::string> DeviceName(int ordinal);
absl::Status SetDevice(int ordinal);

// Device memory bytes free and total on the current device.
struct DeviceMemory {
  int64_t free = 0;
  int64_t total = 0;
};
absl::StatusOr<DeviceMemory> MemoryInfo();

// Waits for every kernel launched so far; returns the first asynchronous error.
absl::Status Synchronize();

// One allocation of device memory, freed with the object. Running out of device memory
// is ResourceExhausted (the caller refuses that request), never an abort.
// Thread-safety: like a std::vector; distinct buffers may be used from distinct threads.
class DeviceBuffer {
 public:
  static absl::StatusOr<DeviceBuffer> Allocate(int64_t bytes);
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  int64_t bytes() const { return bytes_; }

  // Copies `bytes` from host memory to the start of the buffer, or back (synchronous).
  absl::Status CopyFromHost(const void* host, int64_t bytes);
  absl::Status CopyToHost(void* host, int64_t bytes) const;
  // Copies all of `src` (no larger than this buffer) to the start of this one, in stream
  // order (asynchronous).
  absl::Status CopyFromDevice(const DeviceBuffer& src);
  // Copies `bytes` from `src` at `src_offset` to this buffer at `offset`, in stream order.
  absl::Status CopyRangeFromDevice(const DeviceBuffer& src, int64_t src_offset, int64_t offset,
                                   int64_t bytes);
  // Sets every byte to zero (asynchronous, in stream order).
  absl::Status Zero();

 private:
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

// A fixed set of CUDA events recorded in stream order, read after the host has waited for
// the stream (a synchronous copy or Synchronize): per-layer times of a step without a
// sync per layer. Thread-safety: like a std::vector.
class DeviceEvents {
 public:
  static absl::StatusOr<DeviceEvents> Create(int n);
  DeviceEvents() = default;
  DeviceEvents(DeviceEvents&& o) noexcept;
  DeviceEvents& operator=(DeviceEvents&& o) noexcept;
  DeviceEvents(const DeviceEvents&) = delete;
  DeviceEvents& operator=(const DeviceEvents&) = delete;
  ~DeviceEvents();

  int size() const { return static_cast<int>(events_.size()); }
  // Records event `i` in stream order. Inside DeviceGraph::Capture it becomes an event
  // record node of the graph (cudaEventRecordExternal), recorded at each replay: a plain
  // record during capture would only mark a dependency, with nothing to time.
  absl::Status Record(int i);
  // Seconds from event `from` to event `to`, both recorded and completed.
  absl::StatusOr<double> Seconds(int from, int to) const;

 private:
  void Destroy();
  std::vector<void*> events_;  // cudaEvent_t, kept out of this plain header
};

// Seconds per call of `fn` on the device, from CUDA events around `reps` calls after one
// warm-up call (the launches are timed where they run, not on the host).
absl::StatusOr<double> TimeOnDevice(absl::FunctionRef<absl::Status()> fn, int reps);

// Device-to-device copy bandwidth in bytes/s (read + write counted once each, as a copy
// benchmark reports it) over a buffer of `bytes`: the roof a memory-bound kernel is
// measured against.
absl::StatusOr<double> CopyBandwidth(int64_t bytes, int reps);

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_DEVICE_H_
