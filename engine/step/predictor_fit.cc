// Fitting the activity predictor: reduced-rank regression with Eigen.
#include <Eigen/Dense>

#include "absl/strings/str_format.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/step/predictor.h"

namespace stocha {

// Among rank-r maps P, minimize E||W x − P x||² = ||(W − P) L||²_F with Σ = L Lᵀ the input
// moments. With M = W L and its top-r right singular vectors V (eigenvectors of MᵀM),
// the optimum is P = U Uᵀ W where U = M V S⁻¹: A = U [F][r], B = Uᵀ W [r][D].
absl::StatusOr<std::shared_ptr<const ActivityPredictor>> ActivityPredictor::Fit(
    const Model& model, const InputMoments& m, int rank) {
  const ModelConfig& c = model.config();
  const int D = c.hidden_size, F = c.intermediate_size;
  if (rank < 1 || rank > D) {
    return absl::InvalidArgumentError(absl::StrFormat("rank %d outside [1, %d]", rank, D));
  }
  std::shared_ptr<ActivityPredictor> p(new ActivityPredictor(D, F, rank));
  for (int l = 0; l < c.num_layers; ++l) {
    if (m.count(l) == 0) {
      return absl::FailedPreconditionError(
          absl::StrFormat("no calibration inputs for layer %d", l));
    }
    const LayerWeights& lw = model.weights().layers[l];
    const Tensor& gate = c.mlp_gated ? lw.w_gate : lw.w_up;
    Eigen::MatrixXd W(F, D);
    std::vector<float> row(D);
    for (int f = 0; f < F; ++f) {
      RowToF32(gate, f, row.data());
      for (int d = 0; d < D; ++d) W(f, d) = row[d];
    }
    Eigen::MatrixXd sigma = Eigen::Map<const Eigen::MatrixXd>(m.moments(l).data(), D, D) /
                            static_cast<double>(m.count(l));
    sigma.diagonal().array() += 1e-6 * sigma.trace() / D + 1e-12;  // ridge: keep it PD
    const Eigen::MatrixXd L = sigma.llt().matrixL();
    const Eigen::MatrixXd M = W * L;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(M.transpose() * M);
    // Eigenvalues ascending: the last `rank` columns are the top directions.
    const Eigen::MatrixXd V = eig.eigenvectors().rightCols(rank);
    const Eigen::VectorXd s = eig.eigenvalues().tail(rank).cwiseMax(1e-30).cwiseSqrt();
    const Eigen::MatrixXd U = (M * V) * s.cwiseInverse().asDiagonal();  // [F][r]
    const Eigen::MatrixXd B = U.transpose() * W;                        // [r][D]
    std::vector<float> a(static_cast<size_t>(F) * rank), b(static_cast<size_t>(rank) * D);
    for (int f = 0; f < F; ++f) {
      for (int j = 0; j < rank; ++j)
        a[static_cast<size_t>(f) * rank + j] = static_cast<float>(U(f, j));
    }
    for (int j = 0; j < rank; ++j) {
      for (int d = 0; d < D; ++d) b[static_cast<size_t>(j) * D + d] = static_cast<float>(B(j, d));
    }
    p->AddLayer(std::move(a), std::move(b));
  }
  return std::shared_ptr<const ActivityPredictor>(std::move(p));
}

}  // namespace stocha
