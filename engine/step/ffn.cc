// The FFN block: the dense path, and the sparse one (dense gate, then only the active
// neurons' rows of W_up and W_downᵀ), chosen per call.
#include "engine/step/ffn.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/kernels/cpu/activation_kernel.h"
#include "engine/kernels/cpu/ffn_kernels.h"
#include "engine/kernels/cpu/kth_largest.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/onednn_matmul.h"
#include "engine/kernels/cpu/transposed_weights.h"
#include "engine/step/predictor.h"

namespace stocha {

int64_t Ffn::KeepLargest(float* a, float density) {
  const int keep = std::clamp(static_cast<int>(std::lround(density * F_)), 0, F_);
  if (keep == 0) {
    std::fill_n(a, F_, 0.0f);
    return F_;
  }
  const float cut = KthLargest(a, F_, keep, &keys_);
  int64_t zeros = 0;
  for (int f = 0; f < F_; ++f) {
    if (a[f] < cut) a[f] = 0.0f;
    zeros += a[f] == 0.0f;
  }
  return zeros;
}

void Ffn::BuildUnion(int64_t T, const FfnRow* rows) {
  union_.clear();
  for (int64_t t = 0; t < T; ++t) {
    if (!rows[t].activation.sparse()) {  // a SiLU row touches every neuron
      union_ = all_;
      return;
    }
  }
  mask_.assign(F_, 0);
  for (int64_t t = 0; t < T; ++t) {
    const float* at = a_.data() + t * F_;
    for (int f = 0; f < F_; ++f) mask_[f] |= at[f] != 0.0f;
  }
  for (int f = 0; f < F_; ++f) {
    if (mask_[f]) union_.push_back(f);
  }
}

void Ffn::SparseUp(const LayerWeights& w, const float* xb, int64_t T, const FfnRow* rows) {
  row_idx_.resize(F_);
  row_vals_.resize(F_);
  for (int64_t t = 0; t < T; ++t) {
    float* at = a_.data() + t * F_;
    const int64_t n = CollectNonZero(at, F_, row_idx_.data());
    DotRows(xb + t * D_, w.w_up, row_idx_.data(), n, row_vals_.data(), options_.threads,
            options_.activation_format);
    for (int64_t j = 0; j < n; ++j) at[row_idx_[j]] *= row_vals_[j];
  }
}

FfnCallInfo Ffn::Forward(const LayerWeights& w, int layer, const float* xb, int64_t T,
                         const FfnRow* rows, float* out, int64_t* zeros) {
  a_.resize(static_cast<size_t>(T) * F_);
  const bool predicted = UsePredictor(T, rows);
  if (predicted) {
    PredictGate(gated_ ? w.w_gate : w.w_up, layer, xb, T, zeros);
  } else {
    DenseGate(w, xb, T, rows, zeros);
  }
  BuildUnion(T, rows);
  FfnCallInfo info;
  info.union_active = static_cast<int64_t>(union_.size());
  info.predicted = predicted;
  info.sparse = predicted || options_.policy == FfnPolicy::kSparse ||
                (options_.policy == FfnPolicy::kAuto && SparseIsCheaper(T, zeros));
  if (gated_ && info.sparse && T == 1 && options_.threads == 1 && !DownByDot(rows[0])) {
    // One pass over the active neurons: up row and W_downᵀ row back to back.
    SparseUpDownRow(xb, a_.data(), w.w_up, DownT(layer), union_.data(),
                    static_cast<int64_t>(union_.size()), out, options_.activation_format);
    return info;
  }
  if (gated_) {
    if (info.sparse) {
      SparseUp(w, xb, T, rows);
    } else {
      up_.resize(a_.size());
      MatMulAuto(xb, T, w.w_up, nullptr, up_.data(), options_.threads, options_.deterministic,
                 options_.activation_format);
      for (size_t i = 0; i < a_.size(); ++i) a_[i] *= up_[i];
    }
  }
  if (!info.sparse && !options_.deterministic && T >= kOneDnnMinRows) {
    // Long prefills through oneDNN: over the file's W_down when every row is a SiLU one (no
    // W_downᵀ needed), else over W_downᵀ.
    if (std::all_of(rows, rows + T, DownByDot)) {
      MatMulAuto(a_.data(), T, w.w_down, nullptr, out, options_.threads, /*deterministic=*/false,
                 options_.activation_format);
    } else {
      OneDnnMatMulKN(a_.data(), T, DownT(layer), out, options_.threads);
    }
    return info;
  }
  Down(w, layer, T, rows, info.sparse ? union_ : all_, out);
  return info;
}

bool Ffn::DownByDot(const FfnRow& row) { return !row.activation.sparse(); }

// out = W_down · a_ row by row: DownByDot rows as one MatMul over the file's W_down (every
// neuron, the activation format's kernels; its bits do not depend on T or the threads), the
// others as AxpyRows over W_downᵀ.
// Mixed batches gather each kind into contiguous rows, so a row's bits never depend on
// which rows share its batch.
void Ffn::Down(const LayerWeights& w, int layer, int64_t T, const FfnRow* rows,
               const std::vector<int32_t>& active, float* out) {
  dot_rows_.clear();
  axpy_rows_.clear();
  for (int64_t t = 0; t < T; ++t) (DownByDot(rows[t]) ? dot_rows_ : axpy_rows_).push_back(t);
  const auto axpy = [&](const float* a, int64_t n, float* y) {
    AxpyRows(a, n, DownT(layer), active.data(), static_cast<int64_t>(active.size()), y,
             options_.threads);
  };
  const auto dot = [&](const float* a, int64_t n, float* y) {
    MatMul(a, n, w.w_down, nullptr, y, options_.threads, options_.activation_format);
  };
  if (dot_rows_.empty()) return axpy(a_.data(), T, out);
  if (axpy_rows_.empty()) return dot(a_.data(), T, out);
  const auto gathered = [&](const std::vector<int64_t>& list, const auto& project) {
    const auto n = static_cast<int64_t>(list.size());
    gather_a_.resize(static_cast<size_t>(n) * F_);
    gather_out_.resize(static_cast<size_t>(n) * D_);
    for (int64_t i = 0; i < n; ++i) {
      std::copy_n(a_.data() + list[i] * F_, F_, gather_a_.data() + i * F_);
    }
    project(gather_a_.data(), n, gather_out_.data());
    for (int64_t i = 0; i < n; ++i) {
      std::copy_n(gather_out_.data() + i * D_, D_, out + list[i] * D_);
    }
  };
  gathered(dot_rows_, dot);
  gathered(axpy_rows_, axpy);
}

bool Ffn::SparseIsCheaper(int64_t T, const int64_t* zeros) const {
  int64_t nonzero = 0;
  for (int64_t t = 0; t < T; ++t) nonzero += F_ - zeros[t];
  const double density = static_cast<double>(nonzero) / (static_cast<double>(T) * F_);
  return density <= (T == 1 ? options_.max_sparse_density : options_.max_sparse_density_batch);
}

bool Ffn::UsePredictor(int64_t T, const FfnRow* rows) const {
  if (options_.predictor == nullptr) return false;
  for (int64_t t = 0; t < T; ++t) {
    const ActivationSpec& a = rows[t].activation;
    if (!(a.kind == ActivationKind::kRelu || (a.kind == ActivationKind::kStochA && a.p == 0))) {
      return false;  // only ReLU rows have the zeros the predictor guesses
    }
  }
  return true;
}

// a[t] = ReLU(gate rows the predictor picks), every other neuron 0.
void Ffn::PredictGate(const Tensor& gate, int layer, const float* xb, int64_t T, int64_t* zeros) {
  const int k = std::clamp(static_cast<int>(std::lround(options_.predictor_density * F_)), 0, F_);
  row_idx_.resize(F_);
  row_vals_.resize(F_);
  scratch_.resize(static_cast<size_t>(options_.predictor->rank()) + F_);
  std::fill(a_.begin(), a_.end(), 0.0f);
  for (int64_t t = 0; t < T; ++t) {
    float* at = a_.data() + t * F_;
    options_.predictor->Predict(layer, xb + t * D_, k, row_idx_.data(), scratch_.data());
    DotRows(xb + t * D_, gate, row_idx_.data(), k, row_vals_.data(), options_.threads,
            options_.activation_format);
    int64_t nonzero = 0;
    for (int j = 0; j < k; ++j) {
      const float v = row_vals_[j] > 0.0f ? row_vals_[j] : 0.0f;
      at[row_idx_[j]] = v;
      nonzero += v != 0.0f;
    }
    zeros[t] = F_ - nonzero;
  }
}

void Ffn::DenseGate(const LayerWeights& w, const float* xb, int64_t T, const FfnRow* rows,
                    int64_t* zeros) {
  // a = gate x (gated) or up x (plain): [T][F].
  MatMulAuto(xb, T, gated_ ? w.w_gate : w.w_up, nullptr, a_.data(), options_.threads,
             options_.deterministic, options_.activation_format);
  for (int64_t t = 0; t < T; ++t) {
    float* at = a_.data() + t * F_;
    zeros[t] = options_.bench_force_density > 0 && rows[t].activation.sparse()
                   ? KeepLargest(at, options_.bench_force_density)
                   : ApplyActivation(rows[t].activation, rows[t].key, at, F_);
  }
}

absl::StatusOr<std::unique_ptr<Ffn>> Ffn::Create(const Model& model, const FfnOptions& options) {
  auto ffn = std::unique_ptr<Ffn>(new Ffn(model, options));
  if (ffn->release_w_down_) {
    for (int l = 0; l < static_cast<int>(ffn->down_t_.size()); ++l) ffn->DownT(l);
  }
  return ffn;
}

Ffn::Ffn(const Model& model, const FfnOptions& o)
    : gated_(model.config().mlp_gated),
      F_(model.config().intermediate_size),
      D_(model.config().hidden_size),
      options_(o),
      model_(&model),
      release_w_down_(model.config().DefaultActivation().sparse()),
      down_t_(model.weights().layers.size()),
      all_(F_) {
  for (int i = 0; i < F_; ++i) all_[i] = i;
}

int Ffn::transposed_layers() const {
  return static_cast<int>(
      std::count_if(down_t_.begin(), down_t_.end(), [](const auto& t) { return t != nullptr; }));
}

const Tensor& Ffn::DownT(int layer) {
  std::unique_ptr<TransposedMatrix>& t = down_t_[layer];
  if (t == nullptr) {
    const Tensor& w_down = model_->weights().layers[layer].w_down;
    t = std::make_unique<TransposedMatrix>(TransposedMatrix::Of(w_down, options_.threads));
    // A ReLU-family model's SiLU rows are the exception: the file's W_down pages go (a
    // converted W_down is not released) and a SiLU row faults them back in.
    if (release_w_down_) model_->ReleasePages(w_down);
  }
  return t->tensor;
}

void Ffn::SetOptions(const FfnOptions& o) {
  const int threads = options_.threads;
  const bool deterministic = options_.deterministic;
  const ActivationFormat activation_format = options_.activation_format;
  options_ = o;
  options_.threads = threads;
  options_.deterministic = deterministic;
  options_.activation_format = activation_format;
}

}  // namespace stocha
