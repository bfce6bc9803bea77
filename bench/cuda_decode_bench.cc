// Whole-model decode on the GPU: sparse (ReLU at forced 80/90/95% sparsity) against dense
// (SiLU), side by side in one run, at the real shapes with random BF16 weights; and, with
// --prefill, prefill through the row dots (16-row steps) against cuBLAS (256-row steps).
//
//   cuda_decode_bench [steps]              (default 32 timed steps per configuration)
//   cuda_decode_bench --graphs [steps]     CUDA graphs off against on (below)
//   cuda_decode_bench --prefill [tokens]   (default a 1024-token prompt)
//   cuda_decode_bench --help
//
// Decode: per shape (Llama-3.2-1B, Qwen2.5-1.5B, Llama-3.2-3B) and batch (1, 4, 16
// sequences), each sequence is prefilled with 16 tokens, then `steps` decode steps of one
// token per sequence are timed on the host clock (each step ends with the logits copied
// back, as the serving path needs them). Prints tokens/s, the sparse ÷ dense time, and the
// dense step's weight bytes/s against a device-to-device copy measured in the same run.
// Decode steps replay CUDA graphs (CudaForward's default).
//
// --graphs: the Llama-3.2-1B shape only, batch 1, 4 and 16, dense (SiLU) and sparse (ReLU
// at a forced 90% sparsity): the same decode timed with plain launches and with graph
// replays, side by side, and the ratio (plain time / graph time: above 1 is the graphs'
// gain, largest at batch 1 where launch overhead decides). Each timed graph step is
// checked to be a replay.
//
// --prefill (Llama-3.2-1B shape, BF16): one prompt of `tokens` tokens (SiLU, the last row
// wanting logits) in steps of 16 rows (RowDots, kMaxDeviceBatch) and of kMaxStepRows rows
// (cuBLAS), prompt tokens/s side by side (the best of 3 runs after a warm-up); then the
// crossover for one projection, the 1B FFN's W_up [8192][2048] BF16: RowDots against
// cuBLAS (GemmXWt) at T = 1, 2, 4, 8, 16, 32 rows (RowDots in calls of at most 16), timed
// with CUDA events. kGemmMinRows (cuda_forward.h) should sit where cuBLAS starts winning.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/cuda_roof.h"
#include "bench/synthetic_model.h"
#include "engine/cuda/cuda_forward.h"
#include "engine/cuda/step_graph_key.h"
#include "engine/format/status_macros.h"
#include "engine/kernels/cuda/device.h"
#include "engine/kernels/cuda/gemm.h"

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
      rows[p] = TokenRow{p + 1, cache, p, {ActivationKind::kSilu, 0}, RngKey{}, true};
    }
    STOCHA_RETURN_IF_ERROR(f->Step(rows).status());
  }
  STOCHA_ASSIGN_OR_RETURN(const DeviceMemory after, MemoryInfo());
  std::printf("graphs held: %d (device memory for them: %.2f MiB), failed captures: %d\n",
              f->graphs_held(), (before.free - after.free) / 1048576.0,
              f->graph_capture_failures());
  return f->FreeCache(cache);
}

// Seconds to prefill `tokens` tokens into a new cache in steps of `chunk` rows (the best of
// 3 timed runs after one warm-up), each step ending with its synchronizing copy back.
absl::StatusOr<double> TimePrefill(CudaForward& f, int tokens, int chunk) {
  double best = 1e30;
  for (int run = -1; run < 3; ++run) {
    STOCHA_ASSIGN_OR_RETURN(int cache, f.NewCache());
    const auto t0 = Clock::now();
    for (int p0 = 0; p0 < tokens; p0 += chunk) {
      std::vector<TokenRow> rows;
      for (int p = p0; p < std::min(tokens, p0 + chunk); ++p) {
        rows.push_back(TokenRow{(7 * p + 3) % 1000,
                                cache,
                                p,
                                {ActivationKind::kSilu, 0},
                                RngKey{1, 0, static_cast<uint32_t>(p), 0},
                                p == tokens - 1});
      }
      STOCHA_RETURN_IF_ERROR(f.Step(rows).status());
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (run >= 0) best = std::min(best, s);
    STOCHA_RETURN_IF_ERROR(f.FreeCache(cache));
  }
  return best;
}

// RowDots against cuBLAS for one projection W [n][k] over T rows, CUDA-event timed.
absl::Status Crossover(const DeviceMatrix& w, int64_t max_t) {
  STOCHA_ASSIGN_OR_RETURN(DeviceBuffer x, DeviceBuffer::Allocate(max_t * w.cols * 4));
  STOCHA_ASSIGN_OR_RETURN(DeviceBuffer y, DeviceBuffer::Allocate(max_t * w.rows * 4));
  STOCHA_ASSIGN_OR_RETURN(DeviceBuffer half,
                          DeviceBuffer::Allocate(GemmScratchBytes(max_t, w.cols, w.dtype)));
  STOCHA_RETURN_IF_ERROR(x.Zero());
  std::printf("crossover, W [%lld][%lld] %s (the 1B FFN's W_up):\n", static_cast<long long>(w.rows),
              static_cast<long long>(w.cols), std::string(DTypeName(w.dtype)).c_str());
  for (int T : {1, 2, 4, 8, 16, 32}) {
    if (T > max_t) break;
    STOCHA_ASSIGN_OR_RETURN(
        double dots,
        TimeOnDevice(
            [&]() -> absl::Status {
              for (int t0 = 0; t0 < T; t0 += kMaxDeviceBatch) {
                STOCHA_RETURN_IF_ERROR(RowDots(
                    x.as<float>() + t0 * w.cols, std::min(kMaxDeviceBatch, T - t0), w, nullptr,
                    nullptr, 0, y.as<float>() + t0 * w.rows, w.rows, RowDotsMode::kStore));
              }
              return absl::OkStatus();
            },
            20));
    STOCHA_ASSIGN_OR_RETURN(
        double gemm,
        TimeOnDevice(
            [&]() { return GemmXWt(x.as<float>(), T, w, y.as<float>(), w.rows, half.data()); },
            20));
    std::printf("  T %-3d  RowDots %8.1f us  cuBLAS %8.1f us  cuBLAS/RowDots %.2f  -> %s\n", T,
                dots * 1e6, gemm * 1e6, gemm / dots, gemm < dots ? "cuBLAS" : "RowDots");
  }
  return absl::OkStatus();
}

absl::Status RunPrefill(int tokens) {
  const bench::Shape shape = bench::Llama32_1B();
  std::shared_ptr<const Model> model = bench::SyntheticModel(shape, 0, false, DType::kBF16);
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<CudaForward> f,
                          CudaForward::Create(model, std::max(tokens, 16)));
  std::printf("%s BF16, a %d-token prompt (SiLU), best of 3:\n", shape.name.c_str(), tokens);
  STOCHA_ASSIGN_OR_RETURN(double dots, TimePrefill(*f, tokens, kMaxDeviceBatch));
  STOCHA_ASSIGN_OR_RETURN(double gemm, TimePrefill(*f, tokens, kMaxStepRows));
  std::printf("  chunk %-3d (RowDots)  %9.1f tok/s  %8.2f ms\n", kMaxDeviceBatch, tokens / dots,
              dots * 1e3);
  std::printf("  chunk %-3d (cuBLAS)   %9.1f tok/s  %8.2f ms  speedup %.2fx\n", kMaxStepRows,
              tokens / gemm, gemm * 1e3, dots / gemm);
  return Crossover(f->weights().layers()[0].w_up, 32);
}

int Main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::printf(
        "usage: cuda_decode_bench [steps]          decode, dense vs sparse (default 32 steps)\n"
        "       cuda_decode_bench --graphs [steps] Llama-3.2-1B shape only: CUDA graphs off\n"
        "                                          against on, batch 1/4/16, dense and sparse\n"
        "                                          90%%, with the plain/graphs time ratio\n"
        "       cuda_decode_bench --prefill [tokens] prefill, 16-row RowDots steps vs %d-row\n"
        "                                          cuBLAS steps (default 1024 tokens), and\n"
        "                                          the RowDots/cuBLAS crossover in T\n",
        kMaxStepRows);
    return 0;
  }
  const bool graphs = argc > 1 && std::strcmp(argv[1], "--graphs") == 0;
  const bool prefill = argc > 1 && std::strcmp(argv[1], "--prefill") == 0;
  const int arg = graphs || prefill ? 2 : 1;
  const int n = argc > arg ? std::atoi(argv[arg]) : (prefill ? 1024 : 32);
  if (n < 1) {
    std::printf("cuda_decode_bench: %s %d, expected at least 1 (--help)\n",
                prefill ? "tokens" : "steps", n);
    return 2;
  }
  const std::optional<double> bw = PrintDeviceAndCopyRoof("cuda_decode_bench");
  if (!bw) return 1;
  if (graphs || prefill) {
    const absl::Status st = graphs ? RunGraphs(n) : RunPrefill(n);
    if (!st.ok()) std::printf("%s: %s\n", graphs ? "--graphs" : "--prefill", st.ToString().c_str());
    return st.ok() ? 0 : 1;
  }
  const int steps = n;
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
