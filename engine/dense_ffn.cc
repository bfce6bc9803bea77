// The dense FFN: every row of every weight matrix is read, whatever the activation.
#include <vector>

#include "engine/ffn.h"
#include "engine/kernels/activation_kernel.h"
#include "engine/kernels/matmul.h"

namespace stocha {
namespace {

class DenseFfn : public Ffn {
 public:
  DenseFfn(const ModelConfig& config, int threads)
      : gated_(config.mlp_gated), F_(config.intermediate_size), threads_(threads) {}

  void Forward(const LayerWeights& w, int layer, const float* xb, int64_t T,
               const FfnRow* rows, float* out, int64_t* zeros) override {
    a_.resize(static_cast<size_t>(T) * F_);
    // a = gate x (gated) or up x (plain): [T][F]
    MatMul(xb, T, gated_ ? w.w_gate : w.w_up, nullptr, a_.data(), threads_);
    if (gated_) {
      up_.resize(a_.size());
      MatMul(xb, T, w.w_up, nullptr, up_.data(), threads_);
    }
#pragma omp parallel for schedule(static) if (T > 1) num_threads(threads_ > 0 ? threads_ : 1)
    for (int64_t t = 0; t < T; ++t) {
      float* at = a_.data() + t * F_;
      zeros[t] = ApplyActivation(rows[t].activation, rows[t].key, at, F_);
      if (gated_) {
        const float* ut = up_.data() + t * F_;
        for (int i = 0; i < F_; ++i) at[i] *= ut[i];
      }
    }
    MatMul(a_.data(), T, w.w_down, nullptr, out, threads_);
  }

 private:
  bool gated_;
  int F_;
  int threads_;
  std::vector<float> a_, up_;
};

}  // namespace

std::unique_ptr<Ffn> MakeDenseFfn(const ModelConfig& config, int threads) {
  return std::make_unique<DenseFfn>(config, threads);
}

}  // namespace stocha
