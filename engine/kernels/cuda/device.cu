// Device presence, memory, copies and event timing over the CUDA runtime.
#include <cuda_runtime.h>

#include <utility>

#include "absl/strings/str_format.h"
#include "engine/kernels/cuda/cuda_status.h"
#include "engine/kernels/cuda/device.h"
#include "engine/kernels/cuda/graph.h"

namespace stocha::cuda {

int DeviceCount(std::string* why) {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    if (why != nullptr) *why = CudaStatus(err, "cudaGetDeviceCount").ToString();
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  if (n == 0 && why != nullptr) *why = "cudaGetDeviceCount: no CUDA device";
  return n;
}

absl::StatusOr<std::string> DeviceName(int ordinal) {
  cudaDeviceProp p;
  const absl::Status s =
      CudaStatus(cudaGetDeviceProperties(&p, ordinal), "cudaGetDeviceProperties");
  if (!s.ok()) return s;
  return absl::StrFormat("%s, sm_%d%d, %.1f GiB, %d SMs", p.name, p.major, p.minor,
                         static_cast<double>(p.totalGlobalMem) / (1 << 30), p.multiProcessorCount);
}

absl::Status SetDevice(int ordinal) { return CudaStatus(cudaSetDevice(ordinal), "cudaSetDevice"); }

absl::StatusOr<DeviceMemory> MemoryInfo() {
  size_t free = 0, total = 0;
  const absl::Status s = CudaStatus(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
  if (!s.ok()) return s;
  return DeviceMemory{static_cast<int64_t>(free), static_cast<int64_t>(total)};
}

absl::Status Synchronize() { return CudaStatus(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(int64_t bytes) {
  DeviceBuffer b;
  if (bytes <= 0) return b;
  const cudaError_t err = cudaMalloc(&b.data_, static_cast<size_t>(bytes));
  if (err != cudaSuccess) {
    cudaGetLastError();  // an allocation failure is not sticky: clear it for the next call
    b.data_ = nullptr;
    return CudaStatus(err, absl::StrFormat("cudaMalloc(%d bytes)", bytes).c_str());
  }
  b.bytes_ = bytes;
  return b;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) {
  o.data_ = nullptr;
  o.bytes_ = 0;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) cudaFree(data_);
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

absl::Status DeviceBuffer::CopyFromHost(const void* host, int64_t bytes) {
  if (bytes > bytes_) return absl::OutOfRangeError("CopyFromHost: more bytes than the buffer");
  return CudaStatus(cudaMemcpy(data_, host, static_cast<size_t>(bytes), cudaMemcpyHostToDevice),
                    "cudaMemcpy host to device");
}

absl::Status DeviceBuffer::CopyToHost(void* host, int64_t bytes) const {
  if (bytes > bytes_) return absl::OutOfRangeError("CopyToHost: more bytes than the buffer");
  return CudaStatus(cudaMemcpy(host, data_, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost),
                    "cudaMemcpy device to host");
}

absl::Status DeviceBuffer::CopyFromDevice(const DeviceBuffer& src) {
  if (src.bytes_ > bytes_) return absl::OutOfRangeError("CopyFromDevice: source is larger");
  return CudaStatus(
      cudaMemcpyAsync(data_, src.data_, static_cast<size_t>(src.bytes_), cudaMemcpyDeviceToDevice),
      "cudaMemcpyAsync device to device");
}

absl::Status DeviceBuffer::CopyRangeFromDevice(const DeviceBuffer& src, int64_t src_offset,
                                               int64_t offset, int64_t bytes) {
  if (src_offset < 0 || offset < 0 || bytes < 0 || src_offset + bytes > src.bytes_ ||
      offset + bytes > bytes_) {
    return absl::OutOfRangeError("CopyRangeFromDevice: range outside a buffer");
  }
  return CudaStatus(cudaMemcpyAsync(static_cast<char*>(data_) + offset,
                                    static_cast<const char*>(src.data_) + src_offset,
                                    static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice),
                    "cudaMemcpyAsync device to device");
}

absl::Status DeviceBuffer::Zero() {
  return CudaStatus(cudaMemsetAsync(data_, 0, static_cast<size_t>(bytes_)), "cudaMemsetAsync");
}

absl::StatusOr<DeviceEvents> DeviceEvents::Create(int n) {
  DeviceEvents e;
  for (int i = 0; i < n; ++i) {
    cudaEvent_t ev;
    const absl::Status s = CudaStatus(cudaEventCreate(&ev), "cudaEventCreate");
    if (!s.ok()) return s;  // e's destructor frees the ones made so far
    e.events_.push_back(ev);
  }
  return e;
}

DeviceEvents::DeviceEvents(DeviceEvents&& o) noexcept : events_(std::move(o.events_)) {
  o.events_.clear();
}

DeviceEvents& DeviceEvents::operator=(DeviceEvents&& o) noexcept {
  if (this != &o) {
    Destroy();
    events_ = std::move(o.events_);
    o.events_.clear();
  }
  return *this;
}

DeviceEvents::~DeviceEvents() { Destroy(); }

void DeviceEvents::Destroy() {
  for (void* ev : events_) cudaEventDestroy(static_cast<cudaEvent_t>(ev));
  events_.clear();
}

absl::Status DeviceEvents::Record(int i) {
  if (i < 0 || i >= size()) return absl::OutOfRangeError("DeviceEvents::Record: no such event");
  if (StreamIsCapturing()) {
    return CudaStatus(cudaEventRecordWithFlags(static_cast<cudaEvent_t>(events_[i]),
                                               cudaStreamPerThread, cudaEventRecordExternal),
                      "cudaEventRecordWithFlags(cudaEventRecordExternal)");
  }
  return CudaStatus(cudaEventRecord(static_cast<cudaEvent_t>(events_[i]), cudaStreamPerThread),
                    "cudaEventRecord");
}

absl::StatusOr<double> DeviceEvents::Seconds(int from, int to) const {
  if (from < 0 || to < 0 || from >= size() || to >= size()) {
    return absl::OutOfRangeError("DeviceEvents::Seconds: no such event");
  }
  float ms = 0.0f;
  const absl::Status s =
      CudaStatus(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(events_[from]),
                                      static_cast<cudaEvent_t>(events_[to])),
                 "cudaEventElapsedTime");
  if (!s.ok()) return s;
  return static_cast<double>(ms) * 1e-3;
}

absl::StatusOr<double> TimeOnDevice(absl::FunctionRef<absl::Status()> fn, int reps) {
  absl::Status s = fn();  // warm-up: first-launch costs (module load) are not timed
  if (!s.ok()) return s;
  cudaEvent_t start, stop;
  s = CudaStatus(cudaEventCreate(&start), "cudaEventCreate");
  if (!s.ok()) return s;
  s = CudaStatus(cudaEventCreate(&stop), "cudaEventCreate");
  if (!s.ok()) {
    cudaEventDestroy(start);
    return s;
  }
  cudaEventRecord(start);
  for (int r = 0; r < reps && s.ok(); ++r) s = fn();
  cudaEventRecord(stop);
  if (s.ok()) s = CudaStatus(cudaEventSynchronize(stop), "cudaEventSynchronize");
  float ms = 0.0f;
  if (s.ok()) s = CudaStatus(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (!s.ok()) return s;
  return static_cast<double>(ms) * 1e-3 / reps;
}

absl::StatusOr<double> CopyBandwidth(int64_t bytes, int reps) {
  absl::StatusOr<DeviceBuffer> a = DeviceBuffer::Allocate(bytes);
  if (!a.ok()) return a.status();
  absl::StatusOr<DeviceBuffer> b = DeviceBuffer::Allocate(bytes);
  if (!b.ok()) return b.status();
  absl::StatusOr<double> sec = TimeOnDevice(
      [&] {
        return CudaStatus(cudaMemcpyAsync(b->data(), a->data(), static_cast<size_t>(bytes),
                                          cudaMemcpyDeviceToDevice),
                          "cudaMemcpyAsync device to device");
      },
      reps);
  if (!sec.ok()) return sec.status();
  return 2.0 * static_cast<double>(bytes) / *sec;
}

}  // namespace stocha::cuda
