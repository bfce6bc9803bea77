// Scratch activations and per-token bookkeeping for one batched forward pass.
#ifndef STOCHA_ENGINE_STEP_FORWARD_STATE_H_
#define STOCHA_ENGINE_STEP_FORWARD_STATE_H_

#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/model/tensor.h"
#include "engine/step/ffn.h"
#include "engine/step/kv_cache.h"

namespace stocha {

// The T tokens of a step, flattened across sequences: [T][D] residual stream and the
// per-layer temporaries. Buffers keep their capacity across steps.
// Thread-safety: none; owned by the engine.
class ForwardState {
 public:
  void Begin(const ModelConfig& c);
  void AddToken(int token, KvCache* cache, int position, const FfnRow& row);
  // x[t] = embedding row of token t, in F32.
  void Embed(const Tensor& embed);
  void AddToResidual(const float* delta);  // x += delta ([T][D])
  void SetRowStream(uint32_t stream);      // StochA draws of this layer

  int64_t tokens() const { return static_cast<int64_t>(token_.size()); }
  float* x(int64_t t) { return &x_[t * D_]; }
  float* xb(int64_t t) { return &xb_[t * D_]; }
  float* ffn_out(int64_t t) { return &ffn_out_[t * D_]; }
  float* q(int64_t t) { return &q_[t * q_dim_]; }
  float* att(int64_t t) { return &att_[t * q_dim_]; }
  float* k(int64_t t) { return &k_[t * kv_dim_]; }
  float* v(int64_t t) { return &v_[t * kv_dim_]; }
  int position(int64_t t) const { return position_[t]; }
  KvCache* cache(int64_t t) const { return cache_[t]; }
  const FfnRow* rows() const { return rows_.data(); }
  int64_t* zeros() { return zeros_.data(); }

 private:
  int D_ = 0, q_dim_ = 0, kv_dim_ = 0;
  std::vector<int> token_, position_;
  std::vector<KvCache*> cache_;
  std::vector<FfnRow> rows_;
  std::vector<int64_t> zeros_;
  std::vector<float> x_, xb_, ffn_out_, q_, att_, k_, v_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_STEP_FORWARD_STATE_H_
