// Engine: sequence bookkeeping and the batched forward pass of a Llama-family decoder.
#include "engine/engine.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <new>
#include <stdexcept>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "engine/cpu_budget.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/norm.h"
#include "engine/kernels/cpu/onednn_matmul.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/step/attention.h"
#include "engine/step/ffn.h"
#include "engine/step/forward_state.h"
#include "engine/step/kv_cache.h"
#include "engine/step/rope.h"

namespace stocha {

std::string_view CpuRowKernels() { return RowIsaName(ActiveRowIsa()); }
namespace {

using Clock = std::chrono::steady_clock;

// A step's attention runs on one thread below this many multiply-adds (2 * head_dim per
// head and position attended): about 20 µs of the scalar attention loops, where waking the
// pool's workers costs a few µs. A 1B-shaped decode (32 heads of 64) crosses it at 16
// positions.
constexpr int64_t kMinThreadedAttentionMacs = int64_t{1} << 16;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Physical memory of the machine in bytes (0 when unknown).
int64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
}

// A context one sequence could never fill is refused at load rather than found by the
// first long request (or, before this check, by std::bad_alloc in the first step).
absl::Status CheckContextFits(const ModelConfig& c, const EngineOptions& options, int max_context,
                              int64_t kv_bytes_per_position) {
  const int64_t memory = PhysicalMemoryBytes();
  const int64_t needed = kv_bytes_per_position * max_context;
  if (memory == 0 || needed <= memory) return absl::OkStatus();
  const std::string key =
      options.max_context > 0
          ? "EngineOptions.max_context (--max_context)"
          : "max_position_embeddings (GGUF <arch>.context_length, llama2.c seq_len)";
  return absl::ResourceExhaustedError(absl::StrFormat(
      "%s = %d: one sequence at this context needs %.1f GiB of KV cache (%d bytes per "
      "position), more than this machine's %.1f GiB of memory; cap the context with "
      "EngineOptions.max_context (stocha-server --max_context=N)",
      key, max_context, needed / 1073741824.0, kv_bytes_per_position, memory / 1073741824.0));
}

std::vector<float> ToF32(const Tensor& t) {
  std::vector<float> out(t.numel());
  RowToF32(t, 0, out.data());
  return out;
}

}  // namespace

struct Sequence {
  SequenceOptions options;
  ActivationSpec activation;
  KvCache cache;
  int position = 0;
};

struct Engine::Impl {
  std::shared_ptr<const Model> model;
  EngineOptions options;
  int threads = 1;
  int max_context = 0;
  Rope rope;
  std::unique_ptr<Ffn> ffn;
  absl::flat_hash_map<SequenceId, std::unique_ptr<Sequence>> sequences;
  SequenceId next_id = 1;
  std::vector<std::vector<float>> attn_norm, ffn_norm;  // F32 copies, [L][D]
  std::vector<float> final_norm;
  ForwardState state;  // scratch, reused across steps
  Engine::FfnInputObserver observer;

  Impl(std::shared_ptr<const Model> m, const EngineOptions& o)
      : model(std::move(m)), options(o), rope(model->config()) {}

  Sequence* Find(SequenceId id) {
    auto it = sequences.find(id);
    return it == sequences.end() ? nullptr : it->second.get();
  }
  absl::Status Validate(absl::Span<const StepInput> inputs);
  void RunLayer(int layer, StepOutput& out);
  void Logits(absl::Span<const StepInput> inputs, StepOutput& out);
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(std::shared_ptr<const Model> model,
                                                       const EngineOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("Engine::Create: model is null");
  if (options.num_threads < 0) {
    return absl::InvalidArgumentError("EngineOptions.num_threads must be >= 0");
  }
  const ModelConfig& c = model->config();
  if (options.max_context < 0 || options.max_context > c.max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrFormat("EngineOptions.max_context %d outside [0, %d]", options.max_context,
                        c.max_position_embeddings));
  }
  auto impl = std::make_unique<Impl>(std::move(model), options);
  impl->threads = options.num_threads > 0 ? options.num_threads : DefaultCpuBudget().threads;
  impl->max_context = options.max_context > 0 ? options.max_context : c.max_position_embeddings;
  const int64_t kv_per_position =
      2LL * c.num_layers * c.num_kv_heads * c.head_dim * static_cast<int64_t>(sizeof(float));
  if (absl::Status s = CheckContextFits(c, options, impl->max_context, kv_per_position); !s.ok()) {
    return s;
  }
  FfnOptions fo = options.ffn;
  fo.threads = impl->threads;
  fo.deterministic = options.deterministic;
  fo.activation_format = options.activation_format;
  absl::StatusOr<std::unique_ptr<Ffn>> ffn = Ffn::Create(*impl->model, fo);
  if (!ffn.ok()) return ffn.status();
  impl->ffn = std::move(*ffn);
  for (const LayerWeights& l : impl->model->weights().layers) {
    impl->attn_norm.push_back(ToF32(l.attn_norm));
    impl->ffn_norm.push_back(ToF32(l.ffn_norm));
  }
  impl->final_norm = ToF32(impl->model->weights().final_norm);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

absl::StatusOr<SequenceId> Engine::AddSequence(const SequenceOptions& options) {
  const ModelConfig& c = impl_->model->config();
  ActivationSpec act = options.activation.value_or(c.DefaultActivation());
  if (act.kind == ActivationKind::kStochA && !(act.p >= 0.0f && act.p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("activation p must be in [0, 1], got %g", act.p));
  }
  auto seq = std::make_unique<Sequence>(Sequence{
      options, act, KvCache(c.num_layers, c.num_kv_heads * c.head_dim, impl_->max_context), 0});
  const SequenceId id = impl_->next_id++;
  impl_->sequences.emplace(id, std::move(seq));
  return id;
}

absl::StatusOr<SequenceId> Engine::Fork(SequenceId parent, uint32_t sample_index) {
  Sequence* p = impl_->Find(parent);
  if (p == nullptr) return absl::NotFoundError(absl::StrFormat("no sequence %d", parent));
  SequenceOptions o = p->options;
  o.sample_index = sample_index;
  auto seq = std::make_unique<Sequence>(
      Sequence{o, p->activation, p->cache.Prefix(p->position), p->position});
  const SequenceId id = impl_->next_id++;
  impl_->sequences.emplace(id, std::move(seq));
  return id;
}

absl::Status Engine::RemoveSequence(SequenceId seq) {
  if (impl_->sequences.erase(seq) == 0) {
    return absl::NotFoundError(absl::StrFormat("no sequence %d", seq));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Engine::Position(SequenceId seq) const {
  Sequence* s = impl_->Find(seq);
  if (s == nullptr) return absl::NotFoundError(absl::StrFormat("no sequence %d", seq));
  return s->position;
}

int64_t Engine::KvBytesPerPosition() const {
  const ModelConfig& c = impl_->model->config();
  return 2LL * c.num_layers * c.num_kv_heads * c.head_dim * static_cast<int64_t>(sizeof(float));
}
int Engine::num_sequences() const { return static_cast<int>(impl_->sequences.size()); }
void Engine::SetFfnInputObserver(FfnInputObserver observer) {
  impl_->observer = std::move(observer);
}
void Engine::SetFfnOptions(const FfnOptions& options) { impl_->ffn->SetOptions(options); }
const Model& Engine::model() const { return *impl_->model; }
const EngineOptions& Engine::options() const { return impl_->options; }
int Engine::max_context() const { return impl_->max_context; }

absl::Status Engine::Impl::Validate(absl::Span<const StepInput> inputs) {
  const int vocab = model->config().vocab_size;
  absl::flat_hash_set<SequenceId> seen;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const StepInput& in = inputs[i];
    Sequence* s = Find(in.seq);
    if (s == nullptr)
      return absl::NotFoundError(absl::StrFormat("inputs[%d]: no sequence %d", i, in.seq));
    if (!seen.insert(in.seq).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("inputs[%d]: sequence %d twice in one step", i, in.seq));
    }
    if (in.tokens.empty())
      return absl::InvalidArgumentError(absl::StrFormat("inputs[%d]: no tokens", i));
    for (int t : in.tokens) {
      if (t < 0 || t >= vocab) {
        return absl::InvalidArgumentError(
            absl::StrFormat("inputs[%d]: token id %d outside the vocabulary [0, %d)", i, t, vocab));
      }
    }
    const int64_t end = static_cast<int64_t>(s->position) + in.tokens.size();
    if (end > max_context) {
      return absl::OutOfRangeError(
          absl::StrFormat("inputs[%d]: sequence %d would reach %d positions, context is %d", i,
                          in.seq, end, max_context));
    }
  }
  for (const StepInput& in : inputs) {
    Sequence* s = Find(in.seq);
    if (absl::Status st = s->cache.Reserve(s->position + static_cast<int>(in.tokens.size()));
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<StepOutput> Engine::Step(absl::Span<const StepInput> inputs) {
  // A step that cannot get its memory fails (its requests end RESOURCE_EXHAUSTED); the
  // process goes on. Positions advance only at the end, so a retried step starts clean.
  try {
    return StepUnchecked(inputs);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("engine step: out of memory");
  } catch (const std::length_error&) {
    return absl::ResourceExhaustedError("engine step: a buffer would exceed its maximum size");
  }
}

absl::StatusOr<StepOutput> Engine::StepUnchecked(absl::Span<const StepInput> inputs) {
  if (absl::Status st = impl_->Validate(inputs); !st.ok()) return st;
  // oneDNN and every unqualified parallel region started from this thread use this count.
  omp_set_num_threads(impl_->threads);
  StepOutput out;
  const ModelConfig& c = impl_->model->config();
  out.stats.ffn_dim = c.intermediate_size;
  out.stats.layers.resize(c.num_layers);
  out.per_input.resize(inputs.size());
  for (StepStats& s : out.per_input) {
    s.ffn_dim = c.intermediate_size;
    s.layers.resize(c.num_layers);
  }
  if (inputs.empty()) return out;

  ForwardState& st = impl_->state;
  st.Begin(c);
  for (size_t i = 0; i < inputs.size(); ++i) {
    Sequence* s = impl_->Find(inputs[i].seq);
    for (size_t j = 0; j < inputs[i].tokens.size(); ++j) {
      const int pos = s->position + static_cast<int>(j);
      const uint32_t sample = inputs[i].is_prompt ? 0 : s->options.sample_index;
      st.AddToken(
          inputs[i].tokens[j], static_cast<int>(i), &s->cache, pos, inputs[i].is_prompt,
          FfnRow{s->activation, RngKey{s->options.seed, sample, static_cast<uint32_t>(pos), 0}});
    }
  }
  st.Embed(impl_->model->weights().embed);
  for (int l = 0; l < c.num_layers; ++l) impl_->RunLayer(l, out);
  for (const StepInput& in : inputs) {
    impl_->Find(in.seq)->position += static_cast<int>(in.tokens.size());
  }
  impl_->Logits(inputs, out);
  return out;
}

void Engine::Impl::RunLayer(int l, StepOutput& out) {
  const ModelConfig& c = model->config();
  const LayerWeights& w = model->weights().layers[l];
  ForwardState& st = state;
  const int64_t T = st.tokens();
  const int D = c.hidden_size;
  const bool det = options.deterministic;
  const ActivationFormat act = options.activation_format;
  const auto t0 = Clock::now();

  // Attention block: x += Wo · attn(rope(Wq xb), rope(Wk xb), Wv xb)
  for (int64_t t = 0; t < T; ++t) {
    RmsNorm(st.x(t), attn_norm[l].data(), D, c.rms_norm_eps, st.xb(t));
  }
  MatMulAuto(st.xb(0), T, w.wq, &w.bq, st.q(0), threads, det, act);
  MatMulAuto(st.xb(0), T, w.wk, &w.bk, st.k(0), threads, det, act);
  MatMulAuto(st.xb(0), T, w.wv, &w.bv, st.v(0), threads, det, act);
  const int kv_dim = c.num_kv_heads * c.head_dim;
  for (int64_t t = 0; t < T; ++t) {
    rope.Apply(st.q(t), c.num_heads, st.position(t));
    rope.Apply(st.k(t), c.num_kv_heads, st.position(t));
    std::copy_n(st.k(t), kv_dim, st.cache(t)->Key(l, st.position(t)));
    std::copy_n(st.v(t), kv_dim, st.cache(t)->Value(l, st.position(t)));
  }
  const AttentionShape shape{c.num_heads, c.num_kv_heads, c.head_dim};
  // Attention by (token, head) items on the step's thread pool, split by the positions
  // each attends to (attention.h). Threads pay off only with enough work: below
  // kMinThreadedAttentionMacs a step's attention is shorter than waking the workers.
  // Scores need one float per position present (not per position of the context: a
  // 128k-context model would zero 512 KB per layer per step for a short prompt).
  std::vector<int64_t> positions(T);
  int64_t macs = 0;
  for (int64_t t = 0; t < T; ++t) {
    positions[t] = st.position(t) + 1;
    macs += positions[t] * c.num_heads * 2 * c.head_dim;
  }
  const int64_t max_positions = *std::max_element(positions.begin(), positions.end());
  const int parts = macs >= kMinThreadedAttentionMacs
                        ? static_cast<int>(std::min<int64_t>(threads, T * c.num_heads))
                        : 1;
  // Allocated here, not in the parts: an exception must not leave a pool thread, while
  // from here Step() turns it into a Status.
  std::vector<float> scores(static_cast<size_t>(max_positions) * parts);
  RunParallel(threads, parts, [&](int p) {
    float* my_scores = scores.data() + max_positions * p;
    ForEachAttentionRun(positions, c.num_heads, parts, p, [&](int64_t t, int h0, int h1) {
      AttendHeads(shape, st.q(t), *st.cache(t), l, st.position(t), h0, h1, my_scores, st.att(t));
    });
  });
  MatMulAuto(st.att(0), T, w.wo, &w.bo, st.xb(0), threads, det, act);
  st.AddToResidual(st.xb(0));
  const auto t1 = Clock::now();

  // FFN block: x += ffn(rmsnorm(x))
  for (int64_t t = 0; t < T; ++t) {
    RmsNorm(st.x(t), ffn_norm[l].data(), D, c.rms_norm_eps, st.xb(t));
  }
  st.SetRowStream(static_cast<uint32_t>(l));
  if (observer) observer(l, st.xb(0), T);
  const FfnCallInfo info = ffn->Forward(w, l, st.xb(0), T, st.rows(), st.ffn_out(0), st.zeros());
  st.AddToResidual(st.ffn_out(0));
  const auto t2 = Clock::now();

  LayerStats& ls = out.stats.layers[l];
  ls.attention_seconds += Seconds(t0, t1);
  ls.ffn_seconds += Seconds(t1, t2);
  ls.ffn_calls += 1;
  ls.union_active += info.union_active;
  ls.sparse_calls += info.sparse ? 1 : 0;
  ls.predictor_calls += info.predicted ? 1 : 0;
  for (int64_t t = 0; t < T; ++t) {
    LayerStats& li = out.per_input[st.input(t)].layers[l];
    for (LayerStats* s : {&ls, &li}) {
      if (st.is_prompt(t)) {
        ++s->prompt_tokens;
        s->prompt_zeros += st.zeros()[t];
      } else {
        ++s->generated_tokens;
        s->generated_zeros += st.zeros()[t];
      }
    }
  }
}

void Engine::Impl::Logits(absl::Span<const StepInput> inputs, StepOutput& out) {
  const ModelConfig& c = model->config();
  const int D = c.hidden_size, V = c.vocab_size;
  std::vector<int64_t> rows;  // last token row of each input that wants logits
  std::vector<size_t> which;
  int64_t row = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    row += static_cast<int64_t>(inputs[i].tokens.size());
    if (inputs[i].want_logits) {
      rows.push_back(row - 1);
      which.push_back(i);
    }
  }
  out.logits.resize(inputs.size());
  if (rows.empty()) return;
  std::vector<float> xn(rows.size() * D), logits(rows.size() * V);
  for (size_t r = 0; r < rows.size(); ++r) {
    RmsNorm(state.x(rows[r]), final_norm.data(), D, c.rms_norm_eps, &xn[r * D]);
  }
  MatMulAuto(xn.data(), static_cast<int64_t>(rows.size()), model->weights().lm_head, nullptr,
             logits.data(), threads, options.deterministic, options.activation_format);
  for (size_t r = 0; r < rows.size(); ++r) {
    out.logits[which[r]].assign(logits.begin() + r * V, logits.begin() + (r + 1) * V);
  }
}

}  // namespace stocha
