// Which CUDA graph a forward step replays: the one place that decides which steps get one.
#ifndef STOCHA_ENGINE_CUDA_STEP_GRAPH_KEY_H_
#define STOCHA_ENGINE_CUDA_STEP_GRAPH_KEY_H_

namespace stocha::cuda {

// A step's kernel sequence, once its inputs are in device memory, depends only on its row
// count T, on whether the FFN takes the sparse path, and on the forward pass's settings
// (FFN policy, the benchmark's forced density), which drop every graph when they change.
// Graphs pay off where launch overhead decides: decode-sized steps. Steps above
// kMaxGraphRows rows (prefill chunks, cuBLAS-sized) run plain launches. Each kept graph
// costs host memory for its ~20 nodes per layer and a little device memory for the
// executable (measured on the GPU; docs/CUDA.md); at most kGraphSlots are kept.
inline constexpr int kMaxGraphRows = 16;
inline constexpr int kGraphSlots = 2 * kMaxGraphRows;

// The slot in [0, kGraphSlots) of a step of `rows` rows on the dense or sparse FFN path,
// or -1 when the step runs without a graph (rows outside [1, kMaxGraphRows]).
constexpr int StepGraphSlot(int rows, bool sparse) {
  if (rows < 1 || rows > kMaxGraphRows) return -1;
  return 2 * (rows - 1) + (sparse ? 1 : 0);
}

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_CUDA_STEP_GRAPH_KEY_H_
