// The activity predictor: fit, exactness at full rank and density, file round trip, errors.
#include "engine/step/predictor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "engine/engine.h"
#include "engine/kernels/cpu/matmul.h"
#include "gtest/gtest.h"
#include "tests/engine/random_model.h"

namespace stocha {
namespace {

using testing::RandomModel;
using testing::SmallConfig;

const std::vector<int> kText = {1, 5, 17, 42, 8, 96, 3, 3, 60, 11, 23, 44, 12, 9, 70, 71};

std::shared_ptr<const ActivityPredictor> FitOn(const std::shared_ptr<const Model>& m, int rank) {
  InputMoments moments(m->config().num_layers, m->config().hidden_size);
  auto e = std::move(*Engine::Create(m));
  EXPECT_TRUE(
      e->SetFfnInputObserver([&](int l, const float* x, int64_t T) { moments.Add(l, x, T); }).ok());
  SequenceId s = *e->AddSequence({ActivationSpec{ActivationKind::kRelu, 0}});
  EXPECT_TRUE(e->Step({StepInput{s, kText, true, false}}).ok());
  auto p = ActivityPredictor::Fit(*m, moments, rank);
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

std::vector<std::vector<float>> Decode(const std::shared_ptr<const Model>& m,
                                       const FfnOptions& fo) {
  EngineOptions o;
  o.deterministic = true;
  o.ffn = fo;
  auto e = std::move(*Engine::Create(m, o));
  SequenceId s = *e->AddSequence({ActivationSpec{ActivationKind::kRelu, 0}});
  std::vector<std::vector<float>> out;
  out.reserve(kText.size());
  for (int t : kText) out.push_back(e->Step({StepInput{s, {t}, false, true}})->logits[0]);
  return out;
}

TEST(PredictorTest, FullDensityEqualsExactReluBitwise) {
  auto m = RandomModel(SmallConfig(), 21);
  FfnOptions exact, predicted;
  predicted.predictor = FitOn(m, 8);
  predicted.predictor_density = 1.0f;  // every neuron's gate computed: nothing is guessed
  auto a = Decode(m, exact), b = Decode(m, predicted);
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(a[i].data(), b[i].data(), a[i].size() * 4)) << i;
  }
}

// At full rank the scores are the exact gate values, so the top-k it picks are exactly
// the k largest gate pre-activations.
TEST(PredictorTest, FullRankPicksTheTrueTopK) {
  auto m = RandomModel(SmallConfig(), 22);
  const int D = m->config().hidden_size, F = m->config().intermediate_size;
  auto p = FitOn(m, D);
  std::vector<float> x(D), gate(F), scratch(D + F);
  for (int d = 0; d < D; ++d) x[d] = std::sin(0.7f * d);
  const Tensor& wg = m->weights().layers[1].w_gate;
  std::vector<float> row(D);
  for (int f = 0; f < F; ++f) {
    RowToF32(wg, f, row.data());
    double s = 0;
    for (int d = 0; d < D; ++d) s += static_cast<double>(row[d]) * x[d];
    gate[f] = static_cast<float>(s);
  }
  const int k = 20;
  std::vector<int32_t> idx(k);
  p->Predict(1, x.data(), k, idx.data(), scratch.data());
  std::vector<float> sorted = gate;
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
  const float cut = sorted[k - 1];
  int hits = 0;
  for (int32_t i : idx) hits += gate[i] >= cut - 1e-4f;
  EXPECT_GE(hits, k - 1);  // ties at the cut aside
  EXPECT_TRUE(std::is_sorted(idx.begin(), idx.end()));
}

TEST(PredictorTest, LowDensityIsApproximateButRuns) {
  auto m = RandomModel(SmallConfig(), 23);
  FfnOptions predicted;
  predicted.predictor = FitOn(m, 16);
  predicted.predictor_density = 0.3f;
  auto b = Decode(m, predicted);
  ASSERT_EQ(b.size(), kText.size());
  for (float v : b.back()) ASSERT_TRUE(std::isfinite(v));
}

TEST(PredictorTest, SaveLoadRoundTripAndBadFiles) {
  auto m = RandomModel(SmallConfig(), 24);
  auto p = FitOn(m, 6);
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/pred.bin";
  ASSERT_TRUE(p->Save(path).ok());
  auto q = ActivityPredictor::Load(path, m->config());
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ((*q)->rank(), 6);
  std::vector<float> x(m->config().hidden_size, 0.5f), s1(6 + 136), s2(6 + 136);
  std::vector<int32_t> i1(10), i2(10);
  p->Predict(0, x.data(), 10, i1.data(), s1.data());
  (*q)->Predict(0, x.data(), 10, i2.data(), s2.data());
  EXPECT_EQ(i1, i2);

  ModelConfig other = m->config();
  other.intermediate_size = 100;
  auto wrong = ActivityPredictor::Load(path, other);
  EXPECT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find(path), std::string::npos);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  auto truncated = ActivityPredictor::Load(path, m->config());
  EXPECT_FALSE(truncated.ok());
  std::ofstream(path) << "garbage";
  EXPECT_FALSE(ActivityPredictor::Load(path, m->config()).ok());
  EXPECT_EQ(ActivityPredictor::Load(dir + "/missing.bin", m->config()).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace stocha
