// The CUDA backend's cutting of a step into device pieces (no GPU needed).
#include "engine/cuda/step_pieces.h"

#include <utility>
#include <vector>

#include "engine/cuda/cuda_forward.h"
#include "gtest/gtest.h"

namespace stocha::cuda {
namespace {

using Pieces = std::vector<std::pair<int64_t, int64_t>>;

std::vector<char> LastWants(int64_t T) {
  std::vector<char> want(T, 0);
  want.back() = 1;
  return want;
}

// A prefill wants its last row's logits: 1000 rows are 3 full cuBLAS pieces and the rest.
TEST(CutStepTest, APrefillGoesInPiecesOfTheStepBound) {
  EXPECT_EQ(CutStep(LastWants(1000), kMaxStepRows, kMaxDeviceBatch),
            (Pieces{{0, 256}, {256, 512}, {512, 768}, {768, 1000}}));
  EXPECT_EQ(CutStep(LastWants(17), kMaxStepRows, kMaxDeviceBatch), (Pieces{{0, 17}}));
  EXPECT_EQ(CutStep(LastWants(1), kMaxStepRows, kMaxDeviceBatch), (Pieces{{0, 1}}));
  EXPECT_TRUE(CutStep({}, kMaxStepRows, kMaxDeviceBatch).empty());
}

// 40 decode rows all want logits: pieces of 16, so the logits scratch of 16 rows suffices.
TEST(CutStepTest, ADecodeBatchIsCutBy16LogitRows) {
  EXPECT_EQ(CutStep(std::vector<char>(40, 1), kMaxStepRows, kMaxDeviceBatch),
            (Pieces{{0, 16}, {16, 32}, {32, 40}}));
}

// The engine test's step: 3 forked rows and 17 two-row prompts, 20 logit rows in 37 rows:
// the 17th logit row (row 30) starts the second piece.
TEST(CutStepTest, MixedRowsCutAtThe17thLogitRow) {
  std::vector<char> want(37, 0);
  want[0] = want[1] = want[2] = 1;
  for (int j = 0; j < 17; ++j) want[4 + 2 * j] = 1;
  EXPECT_EQ(CutStep(want, kMaxStepRows, kMaxDeviceBatch), (Pieces{{0, 30}, {30, 37}}));
}

}  // namespace
}  // namespace stocha::cuda
