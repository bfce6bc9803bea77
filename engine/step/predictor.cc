// ActivityPredictor: prediction, file I/O and input moments (the fit is predictor_fit.cc).
#include "engine/step/predictor.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "absl/strings/str_format.h"
#include "engine/kernels/cpu/matmul.h"

namespace stocha {

InputMoments::InputMoments(int layers, int dim)
    : dim_(dim),
      sum_(layers, std::vector<double>(static_cast<size_t>(dim) * dim)),
      count_(layers, 0) {}

void InputMoments::Add(int layer, const float* x, int64_t T) {
  std::vector<double>& s = sum_[layer];
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * dim_;
    for (int i = 0; i < dim_; ++i) {
      const double xi = xt[i];
      double* row = &s[static_cast<size_t>(i) * dim_];
      for (int j = 0; j < dim_; ++j) row[j] += xi * xt[j];
    }
  }
  count_[layer] += T;
}

void ActivityPredictor::AddLayer(std::vector<float> a, std::vector<float> b) {
  a_.push_back(std::move(a));
  b_.push_back(std::move(b));
  // Tensors point into the vectors; vectors never reallocate after this.
  ta_.clear();
  tb_.clear();
  for (size_t l = 0; l < a_.size(); ++l) {
    ta_.push_back(Tensor{"predictor.A", DType::kF32, {F_, rank_}, a_[l].data()});
    tb_.push_back(Tensor{"predictor.B", DType::kF32, {rank_, D_}, b_[l].data()});
  }
}

int64_t ActivityPredictor::bytes_per_layer() const {
  return static_cast<int64_t>(rank_) * (D_ + F_) * sizeof(float);
}

void ActivityPredictor::Predict(int layer, const float* x, int k, int32_t* idx,
                                float* scratch) const {
  float* y = scratch;              // [r]
  float* score = scratch + rank_;  // [F]
  MatMul(x, 1, tb_[layer], nullptr, y, 1);
  MatMul(y, 1, ta_[layer], nullptr, score, 1);
  k = std::clamp(k, 0, F_);
  thread_local std::vector<int32_t> order;
  order.resize(F_);
  for (int f = 0; f < F_; ++f) order[f] = f;
  std::nth_element(order.begin(), order.begin() + k, order.end(), [&](int32_t p, int32_t q) {
    return score[p] > score[q] || (score[p] == score[q] && p < q);
  });
  std::sort(order.begin(), order.begin() + k);
  std::copy_n(order.begin(), k, idx);
}

std::shared_ptr<const ActivityPredictor> ActivityPredictor::RandomForBenchmark(int layers, int D,
                                                                               int F, int rank) {
  std::shared_ptr<ActivityPredictor> p(new ActivityPredictor(D, F, rank));
  uint32_t s = 12345;
  auto next = [&s] {
    s = s * 1664525u + 1013904223u;
    return static_cast<float>(s >> 8) / 16777216.0f - 0.5f;
  };
  for (int l = 0; l < layers; ++l) {
    std::vector<float> a(static_cast<size_t>(F) * rank), b(static_cast<size_t>(rank) * D);
    for (float& v : a) v = next();
    for (float& v : b) v = next();
    p->AddLayer(std::move(a), std::move(b));
  }
  return p;
}

namespace {

constexpr char kMagic[8] = {'S', 'T', 'P', 'R', 'E', 'D', '0', '1'};

}  // namespace

absl::Status ActivityPredictor::Save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::UnavailableError(absl::StrFormat("%s: cannot open for writing", path));
  const uint32_t header[4] = {static_cast<uint32_t>(layers()), static_cast<uint32_t>(D_),
                              static_cast<uint32_t>(F_), static_cast<uint32_t>(rank_)};
  out.write(kMagic, sizeof kMagic);
  out.write(reinterpret_cast<const char*>(header), sizeof header);
  for (int l = 0; l < layers(); ++l) {
    out.write(reinterpret_cast<const char*>(a_[l].data()), a_[l].size() * sizeof(float));
    out.write(reinterpret_cast<const char*>(b_[l].data()), b_[l].size() * sizeof(float));
  }
  if (!out) return absl::DataLossError(absl::StrFormat("%s: write failed", path));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const ActivityPredictor>> ActivityPredictor::Load(
    const std::string& path, const ModelConfig& c) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrFormat("%s: cannot open", path));
  const int64_t size = in.tellg();
  in.seekg(0);
  char magic[8];
  uint32_t h[4];
  if (size < 24 || !in.read(magic, 8) || !in.read(reinterpret_cast<char*>(h), sizeof h) ||
      std::memcmp(magic, kMagic, 8) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not a stocha predictor file", path));
  }
  if (static_cast<int>(h[0]) != c.num_layers || static_cast<int>(h[1]) != c.hidden_size ||
      static_cast<int>(h[2]) != c.intermediate_size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: predictor is for layers=%d D=%d F=%d, the model has %d, %d, %d", path,
                        h[0], h[1], h[2], c.num_layers, c.hidden_size, c.intermediate_size));
  }
  const int64_t r = h[3];
  const int64_t want = 24 + static_cast<int64_t>(h[0]) * r * (h[1] + h[2]) * 4;
  if (r <= 0 || r > h[1] || size != want) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: rank %d and file size %d bytes do not match (expected %d)", path, r, size, want));
  }
  std::shared_ptr<ActivityPredictor> p(new ActivityPredictor(h[1], h[2], static_cast<int>(r)));
  for (uint32_t l = 0; l < h[0]; ++l) {
    std::vector<float> a(static_cast<size_t>(h[2]) * r), b(static_cast<size_t>(r) * h[1]);
    in.read(reinterpret_cast<char*>(a.data()), a.size() * 4);
    in.read(reinterpret_cast<char*>(b.data()), b.size() * 4);
    if (!in) return absl::DataLossError(absl::StrFormat("%s: truncated at layer %d", path, l));
    p->AddLayer(std::move(a), std::move(b));
  }
  return std::shared_ptr<const ActivityPredictor>(std::move(p));
}

}  // namespace stocha
