// Opt-in, approximate: a low-rank predictor of which FFN neurons a ReLU row activates.
#ifndef STOCHA_ENGINE_STEP_PREDICTOR_H_
#define STOCHA_ENGINE_STEP_PREDICTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/model.h"
#include "engine/model/tensor.h"

namespace stocha {

// Second moments E[x xᵀ] of each layer's FFN input, gathered on calibration text.
// Thread-safety: none.
class InputMoments {
 public:
  InputMoments(int layers, int dim);
  void Add(int layer, const float* x, int64_t T);  // x: [T][dim]
  int64_t count(int layer) const { return count_[layer]; }
  const std::vector<double>& moments(int layer) const { return sum_[layer]; }
  int dim() const { return dim_; }

 private:
  int dim_;
  std::vector<std::vector<double>> sum_;  // [layer][dim*dim]
  std::vector<int64_t> count_;
};

// Per layer, score(x) = A (B x) approximates the gate pre-activation W_gate x with rank r
// (reduced-rank regression on the input moments: among rank-r maps, the one closest to
// W_gate in E||·x||²). Predict() keeps the k highest scores; the FFN then computes the
// gate only for those rows, so the other gate rows are never read (Deja Vu /
// PowerInfer-style). Neurons it misses are treated as zero: results are approximate.
// Thread-safety: immutable after Fit/Load; Predict is const.
class ActivityPredictor {
 public:
  static absl::StatusOr<std::shared_ptr<const ActivityPredictor>> Fit(const Model& model,
                                                                      const InputMoments& m,
                                                                      int rank);
  // The file format: "STPRED01", uint32 layers, D, F, r, then per layer A [F][r] and
  // B [r][D] as F32 little-endian. Validated against the model's config.
  static absl::StatusOr<std::shared_ptr<const ActivityPredictor>> Load(const std::string& path,
                                                                       const ModelConfig& c);
  absl::Status Save(const std::string& path) const;
  // Random matrices of the right shapes: for speed benchmarks only (it predicts nothing).
  static std::shared_ptr<const ActivityPredictor> RandomForBenchmark(int layers, int D, int F,
                                                                     int rank);

  // The k neurons with the highest predicted gate values, in ascending order.
  // `scratch` must hold rank() + F floats.
  void Predict(int layer, const float* x, int k, int32_t* idx, float* scratch) const;

  int rank() const { return rank_; }
  int layers() const { return static_cast<int>(a_.size()); }
  int64_t bytes_per_layer() const;

 private:
  ActivityPredictor(int D, int F, int rank) : D_(D), F_(F), rank_(rank) {}
  void AddLayer(std::vector<float> a, std::vector<float> b);
  int D_, F_, rank_;
  std::vector<std::vector<float>> a_, b_;  // [layer] A [F][r], B [r][D]
  std::vector<Tensor> ta_, tb_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_STEP_PREDICTOR_H_
