// Engine behaviour on a random model: batching, chunking, forking, StochA, stats, errors.
#include "engine/engine.h"

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "engine/generate.h"
#include "engine/kernels/cpu/activation_kernel.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/step/ffn.h"
#include "gtest/gtest.h"
#include "tests/engine/random_model.h"

namespace stocha {
namespace {

using testing::RandomModel;
using testing::SmallConfig;

const ActivationSpec kRelu{ActivationKind::kRelu, 0};
const ActivationSpec kSilu{ActivationKind::kSilu, 0};

std::unique_ptr<Engine> MakeEngine(std::shared_ptr<const Model> m, int threads = 2) {
  EngineOptions o;
  o.num_threads = threads;
  o.deterministic = true;
  auto e = Engine::Create(std::move(m), o);
  EXPECT_TRUE(e.ok()) << e.status();
  return std::move(*e);
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// Logits after each token when fed one token per step.
std::vector<std::vector<float>> OneByOne(Engine& e, SequenceId s, const std::vector<int>& toks) {
  std::vector<std::vector<float>> out;
  out.reserve(toks.size());
  for (int t : toks) out.push_back(std::move(e.Step({StepInput{s, {t}, true, true}})->logits[0]));
  return out;
}

const std::vector<int> kPrompt = {1, 5, 17, 42, 8, 96, 3, 3, 60, 11, 23};

TEST(EngineTest, ChunkedPrefillEqualsTokenByTokenBitwise) {
  auto m = RandomModel(SmallConfig());
  auto e = MakeEngine(m);
  SequenceId a = *e->AddSequence({kRelu});
  SequenceId b = *e->AddSequence({kRelu});
  auto rows = OneByOne(*e, a, kPrompt);
  auto whole = e->Step({StepInput{b, kPrompt, true, true}});
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(SameBits(whole->logits[0], rows.back()));
}

TEST(EngineTest, ASequenceIsBatchInvariant) {
  for (int threads : {1, 3, 8}) {  // 8 > cores on purpose
    auto m = RandomModel(SmallConfig());
    auto e = MakeEngine(m, threads);
    SequenceId alone = *e->AddSequence({kRelu, 7});
    auto ref = OneByOne(*e, alone, kPrompt);
    // The same sequence inside a batch with a SiLU prefill and a StochA decode.
    SequenceId a = *e->AddSequence({kRelu, 7});
    SequenceId other1 = *e->AddSequence({kSilu, 1});
    SequenceId other2 = *e->AddSequence({ActivationSpec{ActivationKind::kStochA, 0.5f}, 2});
    for (size_t i = 0; i < kPrompt.size(); ++i) {
      std::vector<StepInput> in = {StepInput{other1, {4, 5, 6}, true, true},
                                   StepInput{a, {kPrompt[i]}, true, true},
                                   StepInput{other2, {9}, false, true}};
      auto out = e->Step(in);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_TRUE(SameBits(out->logits[1], ref[i])) << "position " << i << " threads " << threads;
    }
  }
}

// A long prefill crosses the threaded-attention threshold (engine.cc): its (token, head)
// items are split across threads, and the logits keep the bits of one thread and of
// token-by-token decode (where every step's attention stays on one thread).
TEST(EngineTest, ThreadedAttentionKeepsTheBitsOfOneThread) {
  auto m = RandomModel(SmallConfig());
  std::vector<int> prompt(120);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int>(3 + (i * 37) % 90);
  auto one = MakeEngine(m, 1);
  SequenceId ref_seq = *one->AddSequence({kRelu});
  const std::vector<std::vector<float>> ref = OneByOne(*one, ref_seq, prompt);
  for (int threads : {1, 2, 3, 8}) {
    auto e = MakeEngine(m, threads);
    SequenceId a = *e->AddSequence({kRelu});
    SequenceId b = *e->AddSequence({kRelu});
    // Two sequences in one step: a's whole prompt beside b's first 60 tokens.
    auto out = e->Step({StepInput{a, prompt, true, true},
                        StepInput{b, {prompt.begin(), prompt.begin() + 60}, true, true}});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(SameBits(out->logits[0], ref.back())) << "threads " << threads;
    EXPECT_TRUE(SameBits(out->logits[1], ref[59])) << "threads " << threads;
  }
}

TEST(EngineTest, ForkContinuesLikeAFreshSequence) {
  auto m = RandomModel(SmallConfig());
  auto e = MakeEngine(m);
  const ActivationSpec stocha{ActivationKind::kStochA, 0.5f};
  SequenceId root = *e->AddSequence({stocha, 11, 0});
  ASSERT_TRUE(e->Step({StepInput{root, kPrompt, true, true}}).ok());
  SequenceId child = *e->Fork(root, 3);
  EXPECT_EQ(*e->Position(child), static_cast<int>(kPrompt.size()));
  SequenceId fresh = *e->AddSequence({stocha, 11, 3});
  ASSERT_TRUE(e->Step({StepInput{fresh, kPrompt, true, true}}).ok());
  for (int t : {7, 8, 9}) {
    auto out = e->Step({StepInput{child, {t}, false, true}, StepInput{fresh, {t}, false, true}});
    ASSERT_TRUE(out.ok());
    EXPECT_TRUE(SameBits(out->logits[0], out->logits[1]));
  }
}

TEST(EngineTest, StochAPZeroIsReluAndSeedsMatter) {
  auto m = RandomModel(SmallConfig());
  auto e = MakeEngine(m);
  auto run = [&](ActivationSpec a, uint64_t seed, uint32_t sample) {
    SequenceId s = *e->AddSequence({a, seed, sample});
    e->Step({StepInput{s, kPrompt, true, false}}).IgnoreError();
    return std::move(e->Step({StepInput{s, {5, 6, 7}, false, true}})->logits[0]);
  };
  const ActivationSpec p0{ActivationKind::kStochA, 0.0f}, p5{ActivationKind::kStochA, 0.5f};
  EXPECT_TRUE(SameBits(run(p0, 1, 0), run(kRelu, 9, 0)));
  EXPECT_TRUE(SameBits(run(p5, 1, 1), run(p5, 1, 1)));
  EXPECT_FALSE(SameBits(run(p5, 1, 1), run(p5, 1, 2)));
  EXPECT_FALSE(SameBits(run(p5, 1, 1), run(p5, 2, 1)));
}

TEST(EngineTest, StatsCountTokensAndZeros) {
  auto m = RandomModel(SmallConfig());
  auto e = MakeEngine(m);
  SequenceId r = *e->AddSequence({kRelu});
  SequenceId s = *e->AddSequence({kSilu});
  auto out = e->Step({StepInput{r, kPrompt, true, true}, StepInput{s, {4}, false, true}});
  ASSERT_TRUE(out.ok());
  const int F = m->config().intermediate_size;
  ASSERT_EQ(out->stats.layers.size(), 3u);
  for (const LayerStats& l : out->stats.layers) {
    EXPECT_EQ(l.prompt_tokens, static_cast<int64_t>(kPrompt.size()));
    EXPECT_EQ(l.generated_tokens, 1);
    // ReLU on random pre-activations: roughly half zeros.
    const double sp = StepStats::Sparsity(l.prompt_zeros, l.prompt_tokens, F);
    EXPECT_GT(sp, 0.3);
    EXPECT_LT(sp, 0.7);
    EXPECT_EQ(l.generated_zeros, 0);  // SiLU is never exactly zero here
    EXPECT_GT(l.ffn_seconds, 0.0);
  }
  EXPECT_EQ(out->per_input[0].layers[0].prompt_zeros, out->stats.layers[0].prompt_zeros);
  EXPECT_EQ(out->per_input[1].layers[0].generated_tokens, 1);
}

TEST(EngineTest, RejectsBadSteps) {
  auto m = RandomModel(SmallConfig());
  auto e = MakeEngine(m);
  SequenceId s = *e->AddSequence();
  EXPECT_EQ(e->Step({StepInput{999, {1}}}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(e->Step({StepInput{s, {1}}, StepInput{s, {2}}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->Step({StepInput{s, {}}}).status().code(), absl::StatusCode::kInvalidArgument);
  auto bad = e->Step({StepInput{s, {97}}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("vocabulary"), std::string::npos);
  EXPECT_EQ(e->Step({StepInput{s, std::vector<int>(129, 1)}}).status().code(),
            absl::StatusCode::kOutOfRange);
  // Nothing was consumed by the failed steps.
  EXPECT_EQ(*e->Position(s), 0);
  EXPECT_TRUE(e->Step({StepInput{s, {1, 2}}}).ok());
  EXPECT_TRUE(e->RemoveSequence(s).ok());
  EXPECT_FALSE(e->RemoveSequence(s).ok());
}

TEST(EngineTest, VariantsRun) {
  ModelConfig c = SmallConfig();
  c.mlp_gated = false;
  c.attention_bias = true;
  c.tie_word_embeddings = true;
  c.rope_style = RopeStyle::kInterleaved;
  c.rope_scaling.llama3 = true;
  c.rope_scaling.factor = 8;
  c.rope_scaling.original_max_position_embeddings = 32;
  auto m = RandomModel(c);
  ASSERT_NE(m, nullptr);
  auto e = MakeEngine(m);
  SequenceId a = *e->AddSequence({kRelu});
  SequenceId b = *e->AddSequence({kRelu});
  auto rows = OneByOne(*e, a, kPrompt);
  auto whole = e->Step({StepInput{b, kPrompt, true, true}});
  EXPECT_TRUE(SameBits(whole->logits[0], rows.back()));
}

TEST(GenerateTest, SamplesShareOnePrefillAndAreReproducible) {
  auto m = RandomModel(SmallConfig());
  auto e = MakeEngine(m);
  GenerateRequest r;
  r.prompt = kPrompt;
  r.num_samples = 4;
  r.max_new_tokens = 12;
  r.ignore_eos = true;
  r.sampling.seed = 5;
  r.activation = ActivationSpec{ActivationKind::kStochA, 0.5f};
  auto a = Generate(*e, nullptr, r);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->prompt_tokens_computed, static_cast<int>(kPrompt.size()));
  EXPECT_EQ(a->stats.layers[0].prompt_tokens, static_cast<int64_t>(kPrompt.size()));
  EXPECT_EQ(a->stats.layers[0].generated_tokens, 4 * 11);
  ASSERT_EQ(a->samples.size(), 4u);
  EXPECT_NE(a->samples[0].tokens, a->samples[1].tokens);
  auto b = Generate(*e, nullptr, r);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a->samples[i].tokens, b->samples[i].tokens);
  EXPECT_EQ(e->num_sequences(), 0);
  // Sample 2 of the batch equals a lone request's sample 2 (sample keyed by (seed, 2)).
  r.num_samples = 3;
  auto c = Generate(*e, nullptr, r);
  EXPECT_EQ(c->samples[2].tokens, a->samples[2].tokens);
}

TEST(GenerateTest, StopTokensAndLength) {
  auto m = RandomModel(SmallConfig());
  auto e = MakeEngine(m);
  GenerateRequest r;
  r.prompt = kPrompt;
  r.max_new_tokens = 5;
  r.sampling.temperature = 0;
  r.ignore_eos = true;
  auto a = Generate(*e, nullptr, r);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->samples[0].tokens.size(), 5u);
  EXPECT_EQ(a->samples[0].finish, FinishReason::kLength);
  r.stop_token_ids = {a->samples[0].tokens[2]};
  auto b = Generate(*e, nullptr, r);
  EXPECT_EQ(b->samples[0].finish, FinishReason::kStop);
  EXPECT_LE(b->samples[0].tokens.size(), 2u);
}

// The decided limit (docs/API.md, "Stopping"): prompt + new tokens fit the context, as the
// server's; a prompt that fills the context is refused.
TEST(GenerateTest, NewTokensAreCappedAtContextMinusPrompt) {
  EngineOptions o;
  o.max_context = 16;
  auto e = Engine::Create(RandomModel(SmallConfig()), o);
  ASSERT_TRUE(e.ok()) << e.status();
  GenerateRequest r;
  r.prompt = kPrompt;
  r.max_new_tokens = 100;
  r.num_samples = 2;
  r.ignore_eos = true;
  auto a = Generate(**e, nullptr, r);
  ASSERT_TRUE(a.ok()) << a.status();
  for (const SampleOutput& s : a->samples) {
    EXPECT_EQ(s.tokens.size(), 16 - kPrompt.size());
    EXPECT_EQ(s.finish, FinishReason::kLength);
  }
  r.prompt.resize(16, 3);
  EXPECT_EQ(Generate(**e, nullptr, r).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stocha

namespace stocha {
namespace {

// The sparse and the dense FFN paths give the same bits, for every activation mode, in
// mixed batches, for gated and plain FFNs, with one thread (the fused one-row kernel) and
// with more threads than cores.
TEST(SparseFfnTest, SparseAndDensePathsAgreeBitwise) {
  for (auto [gated, threads] :
       {std::pair{true, 1}, std::pair{true, 3}, std::pair{false, 1}, std::pair{false, 3}}) {
    ModelConfig c = SmallConfig();
    c.mlp_gated = gated;
    auto m = RandomModel(c, 4);
    std::vector<std::vector<float>> results[2];
    for (int p = 0; p < 2; ++p) {
      EngineOptions o;
      o.num_threads = threads;
      o.deterministic = true;
      o.ffn.policy = p == 0 ? FfnPolicy::kDense : FfnPolicy::kSparse;
      auto e = std::move(*Engine::Create(m, o));
      SequenceId r = *e->AddSequence({kRelu});
      SequenceId s = *e->AddSequence({kSilu});
      SequenceId q = *e->AddSequence({ActivationSpec{ActivationKind::kStochA, 0.3f}, 3});
      auto a = e->Step({StepInput{r, kPrompt, true, true}, StepInput{q, {5, 6}, true, true}});
      auto b = e->Step({StepInput{r, {7}, false, true}, StepInput{s, {8, 9}, true, true},
                        StepInput{q, {4}, false, true}});
      auto d = e->Step({StepInput{r, {3}, false, true}});  // ReLU alone: truly sparse
      ASSERT_TRUE(a.ok() && b.ok() && d.ok());
      EXPECT_EQ(d->stats.layers[0].sparse_calls, p == 1 ? 1 : 0);
      EXPECT_LT(d->stats.layers[0].union_active, c.intermediate_size);
      for (auto* o : {&*a, &*b, &*d}) {
        for (auto& l : o->logits) results[p].push_back(l);
      }
    }
    ASSERT_EQ(results[0].size(), results[1].size());
    for (size_t i = 0; i < results[0].size(); ++i) {
      EXPECT_TRUE(SameBits(results[0][i], results[1][i]))
          << "output " << i << " gated " << gated << " threads " << threads;
    }
  }
}

// Which weights each row's down projection reads (ffn.h): a SiLU row takes the canonical dot
// over the file's W_down ([D][F]: MatMulReference's bits), a ReLU row the ascending-neuron
// axpy skipping zeros (the W_downᵀ order), on both FFN paths and with a second thread. F = 136
// is not a multiple of 16, so the dot's tail is in play. The axpy order written out here
// differs from the dot in the last bits, so a row on the other path fails.
TEST(SparseFfnTest, SiluRowsDotTheFileWDownReluRowsAxpyItsTranspose) {
  const ModelConfig c = SmallConfig();
  auto m = RandomModel(c, 7);
  const LayerWeights& w = m->weights().layers[0];
  const int64_t D = c.hidden_size, F = c.intermediate_size;
  std::vector<float> x(2 * D);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.29f * static_cast<float>(i));
  const std::vector<FfnRow> rows = {FfnRow{kSilu, RngKey{3, 0, 0, 0}},
                                    FfnRow{kRelu, RngKey{3, 0, 0, 0}}};
  std::vector<float> gate(2 * F), up(2 * F), want(2 * D);
  MatMulReference(x.data(), 2, w.w_gate, nullptr, gate.data());
  MatMulReference(x.data(), 2, w.w_up, nullptr, up.data());
  const auto* wd = static_cast<const float*>(w.w_down.data);
  for (int t = 0; t < 2; ++t) {
    float* a = gate.data() + t * F;
    ApplyActivation(rows[t].activation, rows[t].key, a, F);
    for (int64_t f = 0; f < F; ++f) a[f] *= up[t * F + f];
    if (t == 0) {
      MatMulReference(a, 1, w.w_down, nullptr, want.data());
      continue;
    }
    for (int64_t d = 0; d < D; ++d) {
      float o = 0.0f;
      for (int64_t f = 0; f < F; ++f) {
        if (a[f] != 0.0f) o = std::fma(a[f], wd[d * F + f], o);
      }
      want[D + d] = o;
    }
  }
  const auto same = [](float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; };
  bool differ = false;  // the two orders do part in the last bits on this input
  {
    for (int64_t d = 0; d < D; ++d) {
      float o = 0.0f;
      for (int64_t f = 0; f < F; ++f) o = std::fma(gate[f], wd[d * F + f], o);
      differ |= !same(o, want[d]);
    }
  }
  EXPECT_TRUE(differ);
  for (const FfnPolicy policy : {FfnPolicy::kDense, FfnPolicy::kSparse}) {
    FfnOptions o;
    o.threads = 2;
    o.deterministic = true;
    o.policy = policy;
    auto ffn = std::move(*Ffn::Create(*m, o));
    std::vector<float> out(2 * D);
    std::vector<int64_t> zeros(2);
    ffn->Forward(w, 0, x.data(), 2, rows.data(), out.data(), zeros.data());
    for (int64_t i = 0; i < 2 * D; ++i) {
      EXPECT_TRUE(same(out[i], want[i]))
          << "row " << i / D << " element " << i % D << " policy " << static_cast<int>(policy);
    }
  }
}

// W_downᵀ exists when something reads it: a ReLU-family model builds every layer's at
// creation; a SiLU model none until a ReLU-family row reaches that layer (SiLU rows read the
// file's W_down).
TEST(SparseFfnTest, TransposedWDownIsBuiltWhenAReluRowNeedsIt) {
  const int64_t D = SmallConfig().hidden_size;
  std::vector<float> x(D, 0.25f), out(D);
  int64_t zeros = 0;
  for (const ActivationKind act : {ActivationKind::kRelu, ActivationKind::kSilu}) {
    ModelConfig c = SmallConfig();
    c.hidden_act = act;
    auto m = RandomModel(c, 3);
    SCOPED_TRACE(act == ActivationKind::kRelu ? "ReLU model" : "SiLU model");
    auto ffn = std::move(*Ffn::Create(*m, FfnOptions{}));
    const int at_creation = act == ActivationKind::kRelu ? c.num_layers : 0;
    EXPECT_EQ(ffn->transposed_layers(), at_creation);
    const FfnRow silu{kSilu, RngKey{1, 0, 0, 0}}, relu{kRelu, RngKey{1, 0, 0, 0}};
    ffn->Forward(m->weights().layers[1], 1, x.data(), 1, &silu, out.data(), &zeros);
    EXPECT_EQ(ffn->transposed_layers(), at_creation);
    ffn->Forward(m->weights().layers[1], 1, x.data(), 1, &relu, out.data(), &zeros);
    EXPECT_EQ(ffn->transposed_layers(), act == ActivationKind::kRelu ? c.num_layers : 1);
  }
}

// kAuto follows the rows' mean activation density: sparse up to 0.7 for one row, up to
// 0.33 for batches (whose dense path shares each weight row between inputs). The union
// density does not decide: 8 rows a fifth active each cover most neurons and still take
// the sparse path.
TEST(SparseFfnTest, AutoPolicyFollowsMeanRowDensity) {
  const ModelConfig c = SmallConfig();
  auto m = RandomModel(c, 4);
  const int64_t D = c.hidden_size;
  std::vector<float> x(16 * D), out(16 * D);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  std::vector<int64_t> zeros(16);
  std::vector<FfnRow> rows(16, FfnRow{kRelu, RngKey{1, 0, 0, 0}});
  for (const bool deterministic : {false, true}) {
    FfnOptions o;
    o.threads = 1;
    o.deterministic = deterministic;
    auto ffn = std::move(*Ffn::Create(*m, o));
    int64_t union_active = 0;
    auto sparse_at = [&](int64_t T, float density) {
      FfnOptions p;  // kAuto
      p.bench_force_density = density;
      ffn->SetOptions(p);
      const FfnCallInfo info = ffn->Forward(m->weights().layers[0], 0, x.data(), T, rows.data(),
                                            out.data(), zeros.data());
      union_active = info.union_active;
      return info.sparse;
    };
    SCOPED_TRACE(deterministic);
    EXPECT_TRUE(sparse_at(1, 0.65f));
    EXPECT_FALSE(sparse_at(1, 0.75f));
    EXPECT_TRUE(sparse_at(8, 0.2f));
    EXPECT_GT(union_active, c.intermediate_size * 0.6);
    EXPECT_FALSE(sparse_at(8, 0.4f));
    EXPECT_TRUE(sparse_at(16, 0.3f));
    EXPECT_FALSE(sparse_at(16, 0.5f));
  }
}

}  // namespace
}  // namespace stocha

namespace stocha {
namespace {

// The default (non-deterministic) mode runs long prefills through oneDNN; it agrees with
// the deterministic kernels to rounding.
TEST(EngineModesTest, OneDnnPrefillMatchesDeterministicKernels) {
  auto m = RandomModel(SmallConfig(), 9);
  std::vector<int> prompt(40);
  for (int i = 0; i < 40; ++i) prompt[i] = (i * 31) % 97;
  std::vector<float> logits[2];
  for (int det = 0; det < 2; ++det) {
    EngineOptions o;
    o.deterministic = det == 1;
    auto e = std::move(*Engine::Create(m, o));
    SequenceId s = *e->AddSequence({kSilu});
    auto out = e->Step({StepInput{s, prompt, true, true}});
    ASSERT_TRUE(out.ok()) << out.status();
    logits[det] = out->logits[0];
  }
  float max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < logits[0].size(); ++i) {
    max_diff = std::max(max_diff, std::abs(logits[0][i] - logits[1][i]));
    max_abs = std::max(max_abs, std::abs(logits[1][i]));
  }
  EXPECT_LE(max_diff, 1e-4f * std::max(1.0f, max_abs));
}

}  // namespace
}  // namespace stocha
