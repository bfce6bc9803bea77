// The feed-forward block behind an interface, so sparse kernels can replace the dense one.
#ifndef STOCHA_ENGINE_FFN_H_
#define STOCHA_ENGINE_FFN_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/activation.h"
#include "engine/model.h"
#include "engine/rng.h"

namespace stocha {

// How one token's row is activated: its sequence's mode and its RNG key (the caller sets
// key.stream to the layer index).
struct FfnRow {
  ActivationSpec activation;
  RngKey key;
};

// Gated: out = W_down · (act(W_gate · x) ⊙ (W_up · x)); plain: out = W_down · act(W_up · x).
// Thread-safety: not thread-safe (owns scratch); one per engine.
class Ffn {
 public:
  virtual ~Ffn() = default;
  // xb: [T][D] normalized input. out: [T][D], overwritten. zeros[t]: exact zeros in row
  // t of the activation (act(gate x) when gated, act(up x) when plain).
  virtual void Forward(const LayerWeights& w, int layer, const float* xb, int64_t T,
                       const FfnRow* rows, float* out, int64_t* zeros) = 0;
};

std::unique_ptr<Ffn> MakeDenseFfn(const ModelConfig& config, int threads);

}  // namespace stocha

#endif  // STOCHA_ENGINE_FFN_H_
