// A small GGUF model written in F32, Q8_0 and Q4_0 by the project's one GGUF writer: the
// quantized files load (kept quantized, no copy), their logits stay within a stated bound
// of the F32 model's, and on each quantized model the sparse FFN path gives the dense
// path's bits.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/format/gguf_loader.h"
#include "engine/format/test_writers.h"
#include "engine/step/ffn.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

const ActivationSpec kRelu{ActivationKind::kRelu, 0};
const std::vector<int> kPrompt = {1, 5, 17, 30, 8, 9, 3, 3, 20, 11};

test::TinyModel QuantizableModel() {
  test::TinyModel m;
  m.dim = 64, m.hidden = 128, m.heads = 4, m.kv_heads = 2, m.vocab = 32, m.seq_len = 32;
  return test::TinyModel::Make(m, /*tied=*/false);
}

std::shared_ptr<const Model> Load(const std::string& bytes, const std::string& name) {
  auto m = LoadGgufFromBytes(
      absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), name,
      nullptr, LoadOptions{});
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

// Logits after each prompt token, fed one per step, ReLU rows (so the FFN is sparse).
std::vector<std::vector<float>> RunPrompt(std::shared_ptr<const Model> m, FfnPolicy policy) {
  EngineOptions o;
  o.num_threads = 1;
  o.deterministic = true;
  o.ffn.policy = policy;
  auto e = std::move(*Engine::Create(std::move(m), o));
  const SequenceId s = *e->AddSequence({kRelu});
  std::vector<std::vector<float>> out;
  for (int t : kPrompt) {
    auto r = e->Step({StepInput{s, {t}, true, true}});
    EXPECT_TRUE(r.ok()) << r.status();
    out.push_back(r.ok() ? r->logits[0] : std::vector<float>());
  }
  return out;
}

// max |a - b| over all positions, relative to max |b|.
double RelativeError(const std::vector<std::vector<float>>& a,
                     const std::vector<std::vector<float>>& b) {
  double err = 0, scale = 0;
  for (size_t p = 0; p < b.size(); ++p) {
    for (size_t i = 0; i < b[p].size(); ++i) {
      err = std::max(err, std::fabs(static_cast<double>(a[p][i]) - b[p][i]));
      scale = std::max(scale, std::fabs(static_cast<double>(b[p][i])));
    }
  }
  return err / scale;
}

TEST(QuantizedModelTest, LogitsNearF32AndSparseEqualsDense) {
  const test::TinyModel tm = QuantizableModel();
  const std::string f32 = test::TinyGguf(tm, 0).Build();
  auto ref_model = Load(f32, "f32.gguf");
  ASSERT_NE(ref_model, nullptr);
  const auto ref = RunPrompt(ref_model, FfnPolicy::kDense);
  // Bounds: measured 0.0315 (Q8_0) and 0.569 (Q4_0) for this model (uniform weights in
  // [-1, 1), the worst case for a per-block max scale), with headroom; Q4_0's step is 16x
  // Q8_0's, so its error must be the larger.
  double q8_err = 0;
  for (auto [type, bound] : {std::pair{8u, 0.06}, std::pair{2u, 0.8}}) {
    SCOPED_TRACE(type == 8 ? "Q8_0" : "Q4_0");
    const std::string bytes = test::TinyGguf(tm, type).Build();
    EXPECT_LT(bytes.size(), f32.size() / 3);
    auto m = Load(bytes, "q.gguf");
    ASSERT_NE(m, nullptr);
    const DType dt = type == 8 ? DType::kQ8_0 : DType::kQ4_0;
    EXPECT_EQ(m->weights().layers[0].w_up.dtype, dt);
    EXPECT_EQ(m->weights().embed.dtype, dt);
    EXPECT_EQ(m->weights().final_norm.dtype, DType::kF32);
    // Kept in the file's bytes: no dequantized copy.
    const auto* file_begin = reinterpret_cast<const char*>(bytes.data());
    const auto* w = static_cast<const char*>(m->weights().layers[1].w_down.data);
    EXPECT_TRUE(w >= file_begin && w < file_begin + bytes.size());
    const auto dense = RunPrompt(m, FfnPolicy::kDense);
    const auto sparse = RunPrompt(m, FfnPolicy::kSparse);
    const double err = RelativeError(dense, ref);
    std::printf("%s: max |logit - F32 logit| / max |F32 logit| = %.4f\n",
                type == 8 ? "Q8_0" : "Q4_0", err);
    EXPECT_LT(err, bound);
    EXPECT_GT(err, type == 8 ? 0.0 : 2 * q8_err);  // quantization did change the weights
    if (type == 8) q8_err = err;
    ASSERT_EQ(dense.size(), sparse.size());
    for (size_t p = 0; p < dense.size(); ++p) {
      ASSERT_EQ(dense[p].size(), sparse[p].size());
      EXPECT_EQ(std::memcmp(dense[p].data(), sparse[p].data(), dense[p].size() * 4), 0)
          << "position " << p;
    }
  }
}

TEST(QuantizedModelTest, PrefillEqualsTokenByTokenOnQuantizedWeights) {
  const test::TinyModel tm = QuantizableModel();
  const std::string bytes = test::TinyGguf(tm, 2).Build();
  auto m = Load(bytes, "q4.gguf");
  ASSERT_NE(m, nullptr);
  const auto rows = RunPrompt(m, FfnPolicy::kDense);
  EngineOptions o;
  o.num_threads = 1;
  o.deterministic = true;
  auto e = std::move(*Engine::Create(m, o));
  const SequenceId s = *e->AddSequence({kRelu});
  auto whole = e->Step({StepInput{s, kPrompt, true, true}});
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->logits[0], rows.back());  // the T > 1 (dequantized tile) path: same bits
}

}  // namespace
}  // namespace stocha
