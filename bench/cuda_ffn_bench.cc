// The sparse FFN on the GPU against the dense one, side by side, with the copy-bandwidth roof.
//
//   build-cuda/engine/kernels/cuda/cuda_ffn_bench [reps]
//
// For each real shape (BF16 weights), batch 1/4/16 and forced sparsity 0/80/90/95%, times
// one gated FFN layer on the device (CUDA events): dense = gate, up and down over every
// row; sparse = the same gate, then activation + compaction, the active rows of W_up, and
// the active rows of W_downᵀ. The gate's output is replaced (one small device copy, in
// both paths) by values with exactly the asked sparsity per token row, each row its own
// random pattern, as decode_bench forces it on the CPU. Prints ms, the sparse ÷ dense
// ratio, and the dense path's weight bytes/s against a device-to-device copy measured in
// the same run.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/cuda_roof.h"
#include "engine/format/status_macros.h"
#include "engine/kernels/cuda/device.h"
#include "engine/kernels/cuda/ffn_kernels.h"
#include "engine/model/dtype.h"

namespace stocha::cuda {
namespace {

struct Shape {
  const char* name;
  int64_t D, F;
};

absl::StatusOr<DeviceBuffer> RandomBf16(int64_t n, uint32_t seed) {
  std::vector<uint16_t> host(static_cast<size_t>(n));
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (uint16_t& h : host) h = F32ToBF16(normal(gen));
  absl::StatusOr<DeviceBuffer> b = DeviceBuffer::Allocate(n * 2);
  if (!b.ok()) return b;
  absl::Status s = b->CopyFromHost(host.data(), n * 2);
  if (!s.ok()) return s;
  return b;
}

template <typename T>
absl::StatusOr<DeviceBuffer> UploadVector(const std::vector<T>& host) {
  absl::StatusOr<DeviceBuffer> b =
      DeviceBuffer::Allocate(static_cast<int64_t>(host.size() * sizeof(T)));
  if (!b.ok()) return b;
  absl::Status s = b->CopyFromHost(host.data(), b->bytes());
  if (!s.ok()) return s;
  return b;
}

absl::Status RunShape(const Shape& shape, int reps, double copy_bw) {
  const int64_t D = shape.D, F = shape.F;
  STOCHA_ASSIGN_OR_RETURN(auto gate, RandomBf16(F * D, 1));
  STOCHA_ASSIGN_OR_RETURN(auto up, RandomBf16(F * D, 2));
  STOCHA_ASSIGN_OR_RETURN(auto downT, RandomBf16(F * D, 3));
  const DeviceMatrix wg{gate.data(), DType::kBF16, F, D}, wu{up.data(), DType::kBF16, F, D},
      wd{downT.data(), DType::kBF16, F, D};
  const double weight_bytes = 3.0 * static_cast<double>(F * D) * 2.0;
  for (int T : {1, 4, 16}) {
    std::mt19937 gen(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(T * D));
    for (float& v : x) v = normal(gen);
    STOCHA_ASSIGN_OR_RETURN(auto dx, UploadVector(x));
    STOCHA_ASSIGN_OR_RETURN(auto h, DeviceBuffer::Allocate(static_cast<int64_t>(T) * F * 4));
    STOCHA_ASSIGN_OR_RETURN(auto out, DeviceBuffer::Allocate(static_cast<int64_t>(T) * D * 4));
    STOCHA_ASSIGN_OR_RETURN(auto partials,
                            DeviceBuffer::Allocate(DownAxpyScratchFloats(T, F, D) * 4));
    STOCHA_ASSIGN_OR_RETURN(auto zeros, DeviceBuffer::Allocate(T * 4));
    STOCHA_ASSIGN_OR_RETURN(auto active, DeviceBuffer::Allocate(F));
    STOCHA_ASSIGN_OR_RETURN(auto idx, DeviceBuffer::Allocate(F * 4));
    STOCHA_ASSIGN_OR_RETURN(auto count, DeviceBuffer::Allocate(4));
    const std::vector<DeviceActivation> acts(
        T, MakeDeviceActivation({ActivationKind::kRelu, 0.0f}, RngKey{}));
    STOCHA_ASSIGN_OR_RETURN(auto dacts, UploadVector(acts));
    double dense_ms = 0.0;
    for (int sparsity : {0, 80, 90, 95}) {
      // Positive where active, negative elsewhere: ReLU leaves exactly that pattern.
      std::vector<float> pattern(static_cast<size_t>(T * F));
      std::uniform_real_distribution<float> u(0.0f, 1.0f);
      for (float& v : pattern)
        v = u(gen) * 100.0f >= static_cast<float>(sparsity) ? 1.0f + u(gen) : -1.0f;
      int64_t union_active = 0;
      for (int64_t f = 0; f < F; ++f) {
        bool on = false;
        for (int t = 0; t < T; ++t) on = on || pattern[t * F + f] > 0.0f;
        union_active += on;
      }
      STOCHA_ASSIGN_OR_RETURN(auto dpattern, UploadVector(pattern));
      auto gate_and_pattern = [&]() -> absl::Status {
        absl::Status s = RowDots(dx.as<float>(), T, wg, nullptr, nullptr, 0, h.as<float>(), F,
                                 RowDotsMode::kStore);
        if (!s.ok()) return s;
        return h.CopyFromDevice(dpattern);
      };
      auto dense = [&]() -> absl::Status {
        absl::Status s = gate_and_pattern();
        if (s.ok())
          s = Activate(h.as<float>(), T, F, F, dacts.as<DeviceActivation>(), zeros.as<int32_t>(),
                       active.as<uint8_t>());
        if (s.ok())
          s = RowDots(dx.as<float>(), T, wu, nullptr, nullptr, 0, h.as<float>(), F,
                      RowDotsMode::kScaleNonZero);
        if (s.ok())
          s = DownAxpy(h.as<float>(), T, F, wd, nullptr, nullptr, partials.as<float>(),
                       out.as<float>());
        return s;
      };
      auto sparse = [&]() -> absl::Status {
        absl::Status s = gate_and_pattern();
        if (s.ok())
          s = Activate(h.as<float>(), T, F, F, dacts.as<DeviceActivation>(), zeros.as<int32_t>(),
                       active.as<uint8_t>());
        if (s.ok())
          s = CompactActive(active.as<uint8_t>(), F, idx.as<int32_t>(), count.as<int32_t>());
        if (s.ok())
          s = RowDots(dx.as<float>(), T, wu, idx.as<int32_t>(), count.as<int32_t>(), F,
                      h.as<float>(), F, RowDotsMode::kScaleNonZero);
        if (s.ok())
          s = DownAxpy(h.as<float>(), T, F, wd, idx.as<int32_t>(), count.as<int32_t>(),
                       partials.as<float>(), out.as<float>());
        return s;
      };
      STOCHA_ASSIGN_OR_RETURN(auto sparse_s, TimeOnDevice(sparse, reps));
      if (sparsity == 0) {
        STOCHA_ASSIGN_OR_RETURN(auto dense_s, TimeOnDevice(dense, reps));
        dense_ms = dense_s * 1e3;
      }
      const double dense_bw = weight_bytes / (dense_ms * 1e-3);
      std::printf(
          "%-12s T=%-2d sparsity=%2d%% union_active=%5.1f%%  dense %.4f ms (%.0f GB/s, "
          "%.0f%% of copy)  sparse %.4f ms  sparse/dense %.3f\n",
          shape.name, T, sparsity, 100.0 * union_active / F, dense_ms, dense_bw / 1e9,
          100.0 * dense_bw / copy_bw, sparse_s * 1e3, sparse_s * 1e3 / dense_ms);
    }
  }
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 200;
  const std::optional<double> bw = PrintDeviceAndCopyRoof("cuda_ffn_bench");
  if (!bw) return 1;
  const Shape shapes[] = {
      {"llama32_1b", 2048, 8192}, {"qwen25_1_5b", 1536, 8960}, {"llama32_3b", 3072, 8192}};
  for (const Shape& s : shapes) {
    const absl::Status st = RunShape(s, reps, *bw);
    if (!st.ok()) {
      std::printf("%s: %s\n", s.name, st.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace stocha::cuda

int main(int argc, char** argv) { return stocha::cuda::Main(argc, argv); }
