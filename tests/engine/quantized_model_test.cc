// A small GGUF model written in F32, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K and a Q4_K_M-like mix by
// the project's one GGUF writer: the quantized files load (kept quantized, no copy), their
// logits stay within a stated bound of the F32 model's (and, for the K types and the mix,
// equal bit for bit those of the same model stored as F32 dequantized values), and on each
// quantized model the sparse FFN path gives the dense path's bits, with F32 or with 8-bit
// activations.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "engine/format/gguf_loader.h"
#include "engine/format/test_writers.h"
#include "engine/kernels/cpu/transposed_weights.h"
#include "engine/step/ffn.h"
#include "gtest/gtest.h"
#include "tests/engine/prompt_logits.h"

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
std::vector<std::vector<float>> RunPrompt(std::shared_ptr<const Model> m, FfnPolicy policy,
                                          ActivationFormat act = ActivationFormat::kF32) {
  return testing::PromptLogits(std::move(m), kPrompt, kRelu, policy, act);
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
    const double err = testing::MaxRelativeError(dense, ref);
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

// A whole-prompt step (T > 1: the dequantized-tile path) gives the last logits of
// token-by-token decode bit for bit, on the model `tm` written in ggml type `type`.
void ExpectPrefillEqualsTokenByToken(const test::TinyModel& tm, uint32_t type,
                                     const std::string& name) {
  const std::string bytes = test::TinyGguf(tm, type).Build();  // the model reads these bytes
  auto m = Load(bytes, name);
  ASSERT_NE(m, nullptr);
  const auto rows = RunPrompt(m, FfnPolicy::kDense);
  EngineOptions o;
  o.num_threads = 1;
  o.deterministic = true;
  auto e = std::move(*Engine::Create(m, o));
  const SequenceId s = *e->AddSequence({kRelu});
  auto whole = e->Step({StepInput{s, kPrompt, true, true}});
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->logits[0], rows.back());
}

TEST(QuantizedModelTest, PrefillEqualsTokenByTokenOnQuantizedWeights) {
  ExpectPrefillEqualsTokenByToken(QuantizableModel(), 2, "q4.gguf");
}

// K types need rows of whole 256-element super-blocks: D and F multiples of 256.
test::TinyModel KQuantizableModel() {
  test::TinyModel m;
  m.dim = 256, m.hidden = 512, m.heads = 4, m.kv_heads = 2, m.vocab = 32, m.seq_len = 32;
  m.layers = 2;
  return test::TinyModel::Make(m, /*tied=*/false);
}

// W_down [D][F] as the FFN reads it: the values of TransposedMatrix::Of (Q8_0 along D for a
// block-typed source), transposed back.
std::vector<float> DownAsRead(const Tensor& w_down) {
  const TransposedMatrix t = TransposedMatrix::Of(w_down, 1);
  const std::vector<float> tf = test::Decode(t.tensor);  // [F][D]
  const int64_t D = w_down.rows(), F = w_down.cols();
  std::vector<float> out(tf.size());
  for (int64_t f = 0; f < F; ++f) {
    for (int64_t d = 0; d < D; ++d) out[d * F + f] = tf[f * D + d];
  }
  return out;
}

// `tm` with every tensor replaced by the values `m` holds (dequantized exactly); with
// `down_as_read`, W_down by the re-blocked values the FFN computes with.
test::TinyModel DequantizedSelf(const Model& m, test::TinyModel tm, bool down_as_read) {
  const ModelWeights& w = m.weights();
  tm.embed = test::Decode(w.embed);
  tm.final_norm = test::Decode(w.final_norm);
  if (!tm.tied) tm.lm_head = test::Decode(w.lm_head);
  for (size_t i = 0; i < tm.layer.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    test::TinyModel::Layer& t = tm.layer[i];
    t = {test::Decode(l.attn_norm), test::Decode(l.wq),     test::Decode(l.wk),
         test::Decode(l.wv),        test::Decode(l.wo),     test::Decode(l.ffn_norm),
         test::Decode(l.w_gate),    test::Decode(l.w_down), test::Decode(l.w_up)};
    if (down_as_read) t.w_down = DownAsRead(l.w_down);
  }
  return tm;
}

bool SameBits(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t p = 0; p < a.size(); ++p) {
    if (a[p].size() != b[p].size() ||
        std::memcmp(a[p].data(), b[p].data(), a[p].size() * sizeof(float)) != 0) {
      return false;
    }
  }
  return true;
}

// ActivationFormat::kInt8 on Q8_0, Q4_0, Q4_K, Q5_K and Q6_K files: the sparse path gives the dense
// path's bits; a whole-prompt step (T = 20, past oneDNN's threshold, and 2 threads) gives
// token-by-token's last logits; the logits moved from the F32-activation ones (8 bits did
// something) by less than a bound. Bounds: measured 0.0367 (Q8_0) and 0.0171 (Q4_0) of
// max |logit| on this model; the activations' step (max/127 per 32) is Q8_0's weight step,
// so the move is of the size of Q8_0's weight error against F32 (0.0315 above): the same
// bound, 0.06. The K types (Q8_K activations, max/127 per 256: a coarser step, on the
// larger model of the K types) measured 0.0332 (Q4_K), 0.0247 (Q5_K), 0.0253 (Q6_K): the
// same bound holds with room.
TEST(QuantizedModelTest, Int8ActivationsSparseEqualsDenseAndPrefillEqualsDecode) {
  for (auto [type, bound] : {std::pair{8u, 0.06}, std::pair{2u, 0.06}, std::pair{12u, 0.06},
                             std::pair{13u, 0.06}, std::pair{14u, 0.06}}) {
    SCOPED_TRACE("ggml type " + std::to_string(type));
    const test::TinyModel tm = type >= 12 ? KQuantizableModel() : QuantizableModel();
    const std::string bytes = test::TinyGguf(tm, type).Build();
    auto m = Load(bytes, "q.gguf");
    ASSERT_NE(m, nullptr);
    const auto f32_act = RunPrompt(m, FfnPolicy::kDense);
    const auto dense = RunPrompt(m, FfnPolicy::kDense, ActivationFormat::kInt8);
    const auto sparse = RunPrompt(m, FfnPolicy::kSparse, ActivationFormat::kInt8);
    EXPECT_TRUE(SameBits(dense, sparse));
    const double err = testing::MaxRelativeError(dense, f32_act);
    std::printf("ggml type %u: int8 activations, max |logit - F32-activation logit| / max = %.4f\n",
                type, err);
    EXPECT_GT(err, 0.0);
    EXPECT_LT(err, bound);
    EngineOptions o;
    o.num_threads = 2;
    o.deterministic = true;
    o.activation_format = ActivationFormat::kInt8;
    auto e = std::move(*Engine::Create(m, o));
    const SequenceId s = *e->AddSequence({kRelu});
    std::vector<int> prompt = kPrompt;
    while (prompt.size() < 20) prompt.push_back(prompt[prompt.size() - 10]);  // T >= 16
    auto whole = e->Step({StepInput{s, prompt, true, true}});
    ASSERT_TRUE(whole.ok()) << whole.status();
    const auto rows =
        testing::PromptLogits(m, prompt, kRelu, FfnPolicy::kDense, ActivationFormat::kInt8);
    EXPECT_EQ(whole->logits[0], rows.back());
  }
}

// SiLU rows on block-typed weights: the down projection is MatMul over the file's W_down
// (ffn.h), in either activation format, so the kSparse policy still gives the dense bits; in
// a batch with a ReLU row (whose W_down stays the axpy over W_downᵀ) each row keeps the bits
// it has alone, at 2 threads: the split never makes a row depend on its neighbours. With
// int8 activations the logits moved from the F32-activation ones by less than the bound above
// (measured 0.0386 Q8_0, 0.0141 Q4_0, 0.0180 Q4_K, 0.0290 Q5_K, 0.0226 Q6_K).
TEST(QuantizedModelTest, SiluDownProjectionSparseEqualsDenseAndBatchInvariant) {
  const ActivationSpec silu{ActivationKind::kSilu, 0};
  for (uint32_t type : {8u, 2u, 12u, 13u, 14u}) {
    SCOPED_TRACE("ggml type " + std::to_string(type));
    const test::TinyModel tm = type >= 12 ? KQuantizableModel() : QuantizableModel();
    const std::string bytes = test::TinyGguf(tm, type).Build();
    auto m = Load(bytes, "q.gguf");
    ASSERT_NE(m, nullptr);
    std::vector<std::vector<float>> f32_act;
    for (ActivationFormat act : {ActivationFormat::kF32, ActivationFormat::kInt8}) {
      SCOPED_TRACE(act == ActivationFormat::kF32 ? "F32 activations" : "int8 activations");
      const auto dense = testing::PromptLogits(m, kPrompt, silu, FfnPolicy::kDense, act);
      const auto sparse = testing::PromptLogits(m, kPrompt, silu, FfnPolicy::kSparse, act);
      EXPECT_TRUE(SameBits(dense, sparse));
      if (act == ActivationFormat::kF32) {
        f32_act = dense;
      } else {
        const double err = testing::MaxRelativeError(dense, f32_act);
        std::printf("type %u: SiLU, int8 activations, max |logit - F32-act. logit| / max = %.4f\n",
                    type, err);
        EXPECT_GT(err, 0.0);
        EXPECT_LT(err, 0.06);
      }
      const auto relu = RunPrompt(m, FfnPolicy::kDense, act);
      EngineOptions o;
      o.num_threads = 2;
      o.deterministic = true;
      o.activation_format = act;
      auto e = std::move(*Engine::Create(m, o));
      const SequenceId a = *e->AddSequence({silu});
      const SequenceId b = *e->AddSequence({kRelu});
      for (size_t p = 0; p < kPrompt.size(); ++p) {
        auto r = e->Step(
            {StepInput{a, {kPrompt[p]}, true, true}, StepInput{b, {kPrompt[p]}, true, true}});
        ASSERT_TRUE(r.ok()) << r.status();
        EXPECT_EQ(r->logits[0], dense[p]) << "SiLU row, position " << p;
        EXPECT_EQ(r->logits[1], relu[p]) << "ReLU row, position " << p;
      }
    }
  }
}

// Loads `bytes` and checks: kept in the file's bytes; dense = sparse bit for bit; dense and
// sparse equal to the same model stored as F32 (dequantized values, W_down as the FFN reads
// it) bit for bit. Returns the dense logits and the dequantized F32 model's (W_down not
// re-blocked), to bound the re-blocking.
void ExpectEqualsDequantizedSelf(const test::TinyModel& tm, const std::string& bytes,
                                 double* reblock_err) {
  auto m = Load(bytes, "k.gguf");
  ASSERT_NE(m, nullptr);
  const auto* file_begin = reinterpret_cast<const char*>(bytes.data());
  const auto* w = static_cast<const char*>(m->weights().layers[1].w_down.data);
  EXPECT_TRUE(w >= file_begin && w < file_begin + bytes.size());
  const auto dense = RunPrompt(m, FfnPolicy::kDense);
  const auto sparse = RunPrompt(m, FfnPolicy::kSparse);
  EXPECT_TRUE(SameBits(dense, sparse));
  // Load keeps pointers into the bytes: they must outlive the model.
  const std::string self_bytes = test::TinyGguf(DequantizedSelf(*m, tm, true), 0).Build();
  auto self = Load(self_bytes, "self.gguf");
  ASSERT_NE(self, nullptr);
  EXPECT_TRUE(SameBits(dense, RunPrompt(self, FfnPolicy::kDense)));
  EXPECT_TRUE(SameBits(sparse, RunPrompt(self, FfnPolicy::kSparse)));
  const std::string exact_bytes = test::TinyGguf(DequantizedSelf(*m, tm, false), 0).Build();
  auto exact = Load(exact_bytes, "exact.gguf");
  ASSERT_NE(exact, nullptr);
  *reblock_err = testing::MaxRelativeError(dense, RunPrompt(exact, FfnPolicy::kDense));
}

TEST(QuantizedModelTest, KQuantsEqualTheirDequantizedSelfBitwise) {
  const test::TinyModel tm = KQuantizableModel();
  const std::string f32 = test::TinyGguf(tm, 0).Build();
  const auto ref = RunPrompt(Load(f32, "f32.gguf"), FfnPolicy::kDense);
  double prev_err = 1e9;
  for (auto [type, dt] :
       {std::pair{12u, DType::kQ4_K}, std::pair{13u, DType::kQ5_K}, std::pair{14u, DType::kQ6_K}}) {
    SCOPED_TRACE(std::string(DTypeName(dt)));
    const std::string bytes = test::TinyGguf(tm, type).Build();
    auto m = Load(bytes, "k.gguf");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->weights().layers[0].w_down.dtype, dt);
    EXPECT_EQ(m->weights().embed.dtype, dt);
    EXPECT_EQ(m->weights().final_norm.dtype, DType::kF32);
    double reblock_err = 0;
    ExpectEqualsDequantizedSelf(tm, bytes, &reblock_err);
    const double err = testing::MaxRelativeError(RunPrompt(m, FfnPolicy::kDense), ref);
    std::printf(
        "%s: max |logit - F32 logit| / max |F32 logit| = %.4f; of which W_down^T "
        "re-blocking to Q8_0: %.5f\n",
        std::string(DTypeName(dt)).c_str(), err, reblock_err);
    // Measured (uniform weights in [-1, 1)): see docs/ENGINE.md. Each extra bit must help.
    EXPECT_LT(err, 0.5);
    EXPECT_LT(err, prev_err);
    EXPECT_GT(err, 0.0);
    EXPECT_LT(reblock_err, 0.02);  // Q8_0's step (max/127 per 32) is finer than any K type's
    prev_err = err;
  }
}

// A Q4_K_M-like file: most matrices Q4_K, attn_v and ffn_down Q6_K in layer 0 (Q4_K in
// layer 1), output.weight Q6_K, one Q8_0 and one Q5_K tensor, norms F32: each tensor keeps
// its own type, and the model equals its dequantized self bit for bit.
TEST(QuantizedModelTest, MixedTypesPerTensorLoad) {
  const test::TinyModel tm = KQuantizableModel();
  const auto types = [](const std::string& name) -> std::string {
    if (name.find("norm") != std::string::npos) return "F32";
    if (name == "output.weight" || name == "blk.0.attn_v.weight" ||
        name == "blk.0.ffn_down.weight") {
      return "Q6_K";
    }
    if (name == "blk.1.attn_output.weight") return "Q8_0";
    if (name == "blk.1.ffn_up.weight") return "Q5_K";
    return "Q4_K";
  };
  const std::string bytes = test::TinyGguf(tm, types).Build();
  auto m = Load(bytes, "mixed.gguf");
  ASSERT_NE(m, nullptr);
  const ModelWeights& w = m->weights();
  EXPECT_EQ(w.lm_head.dtype, DType::kQ6_K);
  EXPECT_EQ(w.embed.dtype, DType::kQ4_K);
  EXPECT_EQ(w.layers[0].wv.dtype, DType::kQ6_K);
  EXPECT_EQ(w.layers[0].w_down.dtype, DType::kQ6_K);
  EXPECT_EQ(w.layers[1].w_down.dtype, DType::kQ4_K);
  EXPECT_EQ(w.layers[1].wo.dtype, DType::kQ8_0);
  EXPECT_EQ(w.layers[1].w_up.dtype, DType::kQ5_K);
  EXPECT_EQ(w.layers[1].ffn_norm.dtype, DType::kF32);
  double reblock_err = 0;
  ExpectEqualsDequantizedSelf(tm, bytes, &reblock_err);
  EXPECT_LT(reblock_err, 0.02);
}

TEST(QuantizedModelTest, PrefillEqualsTokenByTokenOnKQuantWeights) {
  ExpectPrefillEqualsTokenByToken(KQuantizableModel(), 12, "q4k.gguf");
}

}  // namespace
}  // namespace stocha
