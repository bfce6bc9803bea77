// ForwardState: sizing of the step's scratch buffers and the embedding lookup.
#include "engine/step/forward_state.h"

#include "engine/kernels/cpu/matmul.h"

namespace stocha {

void ForwardState::Begin(const ModelConfig& c) {
  D_ = c.hidden_size;
  q_dim_ = c.num_heads * c.head_dim;
  kv_dim_ = c.num_kv_heads * c.head_dim;
  token_.clear();
  position_.clear();
  cache_.clear();
  rows_.clear();
}

void ForwardState::AddToken(int token, KvCache* cache, int position, const FfnRow& row) {
  token_.push_back(token);
  cache_.push_back(cache);
  position_.push_back(position);
  rows_.push_back(row);
}

void ForwardState::Embed(const Tensor& embed) {
  const size_t T = token_.size();
  x_.resize(T * D_);
  xb_.resize(T * D_);
  ffn_out_.resize(T * D_);
  q_.resize(T * q_dim_);
  att_.resize(T * q_dim_);
  k_.resize(T * kv_dim_);
  v_.resize(T * kv_dim_);
  zeros_.assign(T, 0);
  for (size_t t = 0; t < T; ++t) RowToF32(embed, token_[t], x(static_cast<int64_t>(t)));
}

void ForwardState::AddToResidual(const float* delta) {
  const size_t n = token_.size() * D_;
  for (size_t i = 0; i < n; ++i) x_[i] += delta[i];
}

void ForwardState::SetRowStream(uint32_t stream) {
  for (FfnRow& r : rows_) r.key.stream = stream;
}

}  // namespace stocha
