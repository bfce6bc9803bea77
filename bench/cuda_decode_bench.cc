// Whole-model decode on the GPU: sparse (ReLU at forced 80/90/95% sparsity) against dense
// (SiLU), side by side in one run, at the real shapes with random BF16 weights.
//
//   cuda_decode_bench [steps]           (default 32 timed steps per configuration)
//   cuda_decode_bench --graphs [steps]  CUDA graphs off against on (below)
//
// Per shape (Llama-3.2-1B, Qwen2.5-1.5B, Llama-3.2-3B) and batch (1, 4, 16 sequences):
// each sequence is prefilled with 16 tokens, then `steps` decode steps of one token per
// sequence are timed on the host clock (each step ends with the logits copied back, as
// the serving path needs them). Prints tokens/s, the sparse ÷ dense time, and the dense
// step's weight bytes/s against a device-to-device copy measured in the same run. Decode
// steps replay CUDA graphs (CudaForward's default).
//
// --graphs: the Llama-3.2-1B shape only, batch 1, 4 and 16, dense (SiLU) and sparse (ReLU
// at a forced 90% sparsity): the same decode timed with plain launches and with graph
// replays, side by side, and the ratio (plain time / graph time: above 1 is the graphs'
// gain, largest at batch 1 where launch overhead decides). Each timed graph step is
// checked to be a replay.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/cuda_roof.h"
#include "bench/synthetic_model.h"
#include "engine/cuda/cuda_forward.h"
#include "engine/cuda/step_graph_key.h"
#include "engine/format/status_macros.h"
#include "engine/kernels/cuda/device.h"

namespace stocha::cuda {
namespace {

using Clock = std::chrono::steady_clock;

// Seconds per decode step of `batch` sequences with `act` (and the forced density).
// With `graphs`, every timed step must be a graph replay (a failed capture would fall back
// to plain launches and time the wrong thing).
absl::StatusOr<double> TimeDecode(CudaForward& f, int batch, ActivationSpec act, float density,
                                  int steps, bool graphs = true) {
  f.SetBenchForceDensity(density);
  f.SetCudaGraphs(graphs);
  std::vector<int> caches;
  for (int b = 0; b < batch; ++b) {
    STOCHA_ASSIGN_OR_RETURN(int c, f.NewCache());
    caches.push_back(c);
  }
  constexpr int kPrompt = 16;
  for (int b = 0; b < batch; ++b) {
    std::vector<TokenRow> rows(kPrompt);
    for (int p = 0; p < kPrompt; ++p) {
      rows[p] =
          TokenRow{(7 * p + b) % 1000, caches[b], p, act, RngKey{1, 0, static_cast<uint32_t>(p), 0},
                   p == kPrompt - 1};
    }
    STOCHA_RETURN_IF_ERROR(f.Step(rows).status());
  }
  double seconds = 0.0;
  for (int s = -2; s < steps; ++s) {  // two untimed warm-up steps
    std::vector<TokenRow> rows(batch);
    const int pos = kPrompt + s + 2;
    for (int b = 0; b < batch; ++b) {
      rows[b] = TokenRow{(13 * pos + b) % 1000,
                         caches[b],
                         pos,
                         act,
                         RngKey{1, 0, static_cast<uint32_t>(pos), 0},
                         true};
    }
    const auto t0 = Clock::now();
    STOCHA_ASSIGN_OR_RETURN(const ForwardOutput out, f.Step(rows));
    if (s >= 0) seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    if (out.graph != graphs) {
      return absl::InternalError(absl::StrCat("decode step at batch ", batch, " was ",
                                              out.graph ? "" : "not ", "a graph replay"));
    }
  }
  for (int c : caches) STOCHA_RETURN_IF_ERROR(f.FreeCache(c));
  return seconds / steps;
}

absl::Status RunShape(const bench::Shape& shape, int steps, double copy_bw) {
  const auto t0 = Clock::now();
  std::shared_ptr<const Model> model = bench::SyntheticModel(shape, 0, false, DType::kBF16);
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<CudaForward> f, CudaForward::Create(model, 1024));
  std::printf("%s: %.1f GiB of weights on the device, ready in %.1f s\n", shape.name.c_str(),
              f->weights().bytes() / 1073741824.0,
              std::chrono::duration<double>(Clock::now() - t0).count());
  const double dense_bytes = bench::DenseBytesPerToken(shape);
  for (int batch : {1, 4, 16}) {
    STOCHA_ASSIGN_OR_RETURN(double dense,
                            TimeDecode(*f, batch, {ActivationKind::kSilu, 0}, 0, steps));
    std::printf(
        "%-12s batch %-2d dense (silu)   %8.1f tok/s  %.3f ms/step  %.0f GB/s weights "
        "(%.0f%% of copy)\n",
        shape.name.c_str(), batch, batch / dense, dense * 1e3, dense_bytes / dense / 1e9,
        100.0 * dense_bytes / dense / copy_bw);
    for (int sparsity : {80, 90, 95}) {
      STOCHA_ASSIGN_OR_RETURN(double sparse, TimeDecode(*f, batch, {ActivationKind::kRelu, 0},
                                                        1.0f - sparsity / 100.0f, steps));
      std::printf(
          "%-12s batch %-2d sparse %2d%%     %8.1f tok/s  %.3f ms/step  sparse/dense time %.3f "
          "(speedup %.2fx)\n",
          shape.name.c_str(), batch, sparsity, batch / sparse, sparse * 1e3, sparse / dense,
          dense / sparse);
    }
  }
  return absl::OkStatus();
}

// Plain launches against graph replays of the same decode (--graphs).
absl::Status RunGraphs(int steps) {
  const bench::Shape shape = bench::Llama32_1B();
  std::shared_ptr<const Model> model = bench::SyntheticModel(shape, 0, false, DType::kBF16);
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<CudaForward> f, CudaForward::Create(model, 1024));
  struct Mode {
    const char* name;
    ActivationSpec act;
    float density;
  };
  for (int batch : {1, 4, 16}) {
    for (const Mode& m : {Mode{"dense (silu)", {ActivationKind::kSilu, 0}, 0.0f},
                          Mode{"sparse 90%", {ActivationKind::kRelu, 0}, 0.1f}}) {
      STOCHA_ASSIGN_OR_RETURN(double plain, TimeDecode(*f, batch, m.act, m.density, steps, false));
      STOCHA_ASSIGN_OR_RETURN(double graph, TimeDecode(*f, batch, m.act, m.density, steps, true));
      std::printf(
          "%-12s batch %-2d %-13s plain %8.1f tok/s %.3f ms/step | graphs %8.1f tok/s %.3f "
          "ms/step | plain/graphs time %.3f\n",
          shape.name.c_str(), batch, m.name, batch / plain, plain * 1e3, batch / graph, graph * 1e3,
          plain / graph);
    }
  }
  // What the graphs cost: device memory before and after capturing a dense graph for every
  // row count 1..16 (cudaMemGetInfo's granularity, so a total rather than per node).
  f->SetBenchForceDensity(0);
  f->SetCudaGraphs(false);
  f->SetCudaGraphs(true);
  STOCHA_ASSIGN_OR_RETURN(const int cache, f->NewCache());
  STOCHA_ASSIGN_OR_RETURN(const DeviceMemory before, MemoryInfo());
  for (int T = 1; T <= kMaxGraphRows; ++T) {
    std::vector<TokenRow> rows(T);
    for (int p = 0; p < T; ++p) {
      rows[p] = TokenRow{p + 1, cache, p, {ActivationKind::kSilu, 0}, RngKey{}, p == T - 1};
    }
    STOCHA_RETURN_IF_ERROR(f->Step(rows).status());
  }
  STOCHA_ASSIGN_OR_RETURN(const DeviceMemory after, MemoryInfo());
  std::printf("graphs held: %d (device memory for them: %.2f MiB), failed captures: %d\n",
              f->graphs_held(), (before.free - after.free) / 1048576.0,
              f->graph_capture_failures());
  return f->FreeCache(cache);
}

int Main(int argc, char** argv) {
  const bool graphs = argc > 1 && std::strcmp(argv[1], "--graphs") == 0;
  if (graphs) {
    --argc;
    ++argv;
  }
  if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::atoi(argv[1]) < 1)) {
    std::printf(
        "usage: cuda_decode_bench [--graphs] [steps]\n"
        "  steps     timed decode steps per configuration (default 32)\n"
        "  --graphs  Llama-3.2-1B shape only: CUDA graphs off against on, batch 1/4/16,\n"
        "            dense and sparse 90%%, with the plain/graphs time ratio\n");
    return argc > 1 && std::strcmp(argv[1], "--help") == 0 ? 0 : 2;
  }
  const int steps = argc > 1 ? std::atoi(argv[1]) : 32;
  const std::optional<double> bw = PrintDeviceAndCopyRoof("cuda_decode_bench");
  if (!bw) return 1;
  if (graphs) {
    const absl::Status st = RunGraphs(steps);
    if (!st.ok()) std::printf("--graphs: %s\n", st.ToString().c_str());
    return st.ok() ? 0 : 1;
  }
  for (const bench::Shape& s : {bench::Llama32_1B(), bench::Qwen25_1_5B(), bench::Llama32_3B()}) {
    const absl::Status st = RunShape(s, steps, *bw);
    if (!st.ok()) {
      std::printf("%s: %s\n", s.name.c_str(), st.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace stocha::cuda

int main(int argc, char** argv) { return stocha::cuda::Main(argc, argv); }
