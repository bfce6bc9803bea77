// How the CUDA backend cuts an Engine step's rows into CudaForward steps (host-only logic).
#ifndef STOCHA_ENGINE_CUDA_STEP_PIECES_H_
#define STOCHA_ENGINE_CUDA_STEP_PIECES_H_

#include <cstdint>
#include <utility>
#include <vector>

namespace stocha::cuda {

// [begin, end) ranges covering rows 0..want.size() in order, each at most `max_rows` rows
// with at most `max_logit_rows` of them wanting logits (want[t] != 0), each as long as those
// bounds allow: a prompt's rows stay together in as few pieces as possible, and a
// piece's rows attend to the keys the pieces before it wrote.
inline std::vector<std::pair<int64_t, int64_t>> CutStep(const std::vector<char>& want, int max_rows,
                                                        int max_logit_rows) {
  std::vector<std::pair<int64_t, int64_t>> pieces;
  const int64_t T = static_cast<int64_t>(want.size());
  for (int64_t begin = 0, end = 0; begin < T; begin = end) {
    int wanted = 0;
    for (end = begin; end < T && end - begin < max_rows; ++end) {
      if (want[end] != 0 && wanted == max_logit_rows) break;
      wanted += want[end] != 0 ? 1 : 0;
    }
    pieces.emplace_back(begin, end);
  }
  return pieces;
}

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_CUDA_STEP_PIECES_H_
