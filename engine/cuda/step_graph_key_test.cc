// StepGraphSlot: which steps replay a CUDA graph, and that the slots stay within the bound.
#include "engine/cuda/step_graph_key.h"

#include <set>

#include "gtest/gtest.h"

namespace stocha::cuda {
namespace {

TEST(StepGraphSlot, EveryDecodeSizedKeyHasItsOwnSlotWithinTheBound) {
  std::set<int> seen;
  for (int rows = 1; rows <= kMaxGraphRows; ++rows) {
    for (bool sparse : {false, true}) {
      const int slot = StepGraphSlot(rows, sparse);
      EXPECT_GE(slot, 0) << rows << " rows";
      EXPECT_LT(slot, kGraphSlots) << rows << " rows";
      EXPECT_TRUE(seen.insert(slot).second) << rows << " rows, sparse " << sparse;
    }
  }
  EXPECT_EQ(seen.size(), 32u);  // the bound the forward pass promises: 16 T values x 2 paths
}

TEST(StepGraphSlot, StepsOutsideOneToSixteenRowsRunWithoutAGraph) {
  EXPECT_EQ(StepGraphSlot(0, false), -1);
  EXPECT_EQ(StepGraphSlot(-3, true), -1);
  EXPECT_EQ(StepGraphSlot(kMaxGraphRows + 1, false), -1);
  EXPECT_EQ(StepGraphSlot(256, true), -1);  // a cuBLAS-sized prefill step
}

}  // namespace
}  // namespace stocha::cuda
