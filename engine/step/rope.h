// Rotary position embeddings: frequencies (llama3 scaling, GGUF rope_freqs) and their application.
#ifndef STOCHA_ENGINE_STEP_ROPE_H_
#define STOCHA_ENGINE_STEP_ROPE_H_

#include <vector>

#include "engine/model/model_config.h"

namespace stocha {

// Thread-safety: immutable after construction.
class Rope {
 public:
  explicit Rope(const ModelConfig& config);

  // Rotates `heads` vectors of head_dim floats laid out back to back, at `position`.
  void Apply(float* v, int heads, int position) const;

  const std::vector<float>& inv_freq() const { return inv_freq_; }

 private:
  int head_dim_;
  RopeStyle style_;
  std::vector<float> inv_freq_;  // [head_dim / 2]
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_STEP_ROPE_H_
