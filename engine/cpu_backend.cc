// CpuBackend: KV caches and the batched forward pass of a Llama-family decoder on the CPU.
#include "engine/cpu_backend.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_format.h"
#include "engine/cpu_budget.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/norm.h"
#include "engine/kernels/cpu/onednn_matmul.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/step/attention.h"

namespace stocha {
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
absl::Status CheckContextFits(const EngineOptions& options, int max_context,
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

CpuBackend::CpuBackend(std::shared_ptr<const Model> model, const EngineOptions& options,
                       int max_context)
    : model_(std::move(model)),
      options_(options),
      max_context_(max_context),
      rope_(model_->config()) {}

absl::StatusOr<std::unique_ptr<Backend>> CpuBackend::Create(std::shared_ptr<const Model> model,
                                                            const EngineOptions& options,
                                                            int max_context) {
  std::unique_ptr<CpuBackend> b(new CpuBackend(std::move(model), options, max_context));
  b->threads_ = options.num_threads > 0 ? options.num_threads : DefaultCpuBudget().threads;
  if (absl::Status s = CheckContextFits(options, max_context, b->KvBytesPerPosition()); !s.ok()) {
    return s;
  }
  FfnOptions fo = options.ffn;
  fo.threads = b->threads_;
  fo.deterministic = options.deterministic;
  fo.activation_format = options.activation_format;
  absl::StatusOr<std::unique_ptr<Ffn>> ffn = Ffn::Create(*b->model_, fo);
  if (!ffn.ok()) return ffn.status();
  b->ffn_ = std::move(*ffn);
  for (const LayerWeights& l : b->model_->weights().layers) {
    b->attn_norm_.push_back(ToF32(l.attn_norm));
    b->ffn_norm_.push_back(ToF32(l.ffn_norm));
  }
  b->final_norm_ = ToF32(b->model_->weights().final_norm);
  return std::unique_ptr<Backend>(std::move(b));
}

absl::StatusOr<int> CpuBackend::NewSlot() {
  const ModelConfig& c = model_->config();
  const int slot = next_slot_++;
  caches_.emplace(
      slot, std::make_unique<KvCache>(c.num_layers, c.num_kv_heads * c.head_dim, max_context_));
  return slot;
}

absl::StatusOr<int> CpuBackend::ForkSlot(int parent, int positions) {
  auto it = caches_.find(parent);
  if (it == caches_.end()) return absl::NotFoundError(absl::StrFormat("no KV slot %d", parent));
  const int slot = next_slot_++;
  caches_.emplace(slot, std::make_unique<KvCache>(it->second->Prefix(positions)));
  return slot;
}

int64_t CpuBackend::KvBytesPerPosition() const { return F32KvBytesPerPosition(model_->config()); }

absl::Status CpuBackend::SetFfnOptions(const FfnOptions& options) {
  ffn_->SetOptions(options);
  return absl::OkStatus();
}

absl::Status CpuBackend::SetFfnInputObserver(Engine::FfnInputObserver observer) {
  observer_ = std::move(observer);
  return absl::OkStatus();
}

absl::Status CpuBackend::Forward(const BackendStep& step, BackendOutput& out) {
  for (const BackendRow& r : step.rows) {
    auto it = caches_.find(r.slot);
    if (it == caches_.end()) return absl::NotFoundError(absl::StrFormat("no KV slot %d", r.slot));
    if (absl::Status st = it->second->Reserve(r.position + 1); !st.ok()) return st;
  }
  // oneDNN and every unqualified parallel region started from this thread use this count.
  omp_set_num_threads(threads_);
  const ModelConfig& c = model_->config();
  out.layers.assign(c.num_layers, LayerStats{});
  out.zeros.assign(c.num_layers, {});
  ForwardState& st = state_;
  st.Begin(c);
  for (const BackendRow& r : step.rows) {
    st.AddToken(r.token, caches_.at(r.slot).get(), r.position, r.ffn);
  }
  st.Embed(model_->weights().embed);
  for (int l = 0; l < c.num_layers; ++l) RunLayer(l, out);
  Logits(step, out);
  return absl::OkStatus();
}

void CpuBackend::RunLayer(int l, BackendOutput& out) {
  const ModelConfig& c = model_->config();
  const LayerWeights& w = model_->weights().layers[l];
  ForwardState& st = state_;
  const int64_t T = st.tokens();
  const int D = c.hidden_size;
  const bool det = options_.deterministic;
  const ActivationFormat act = options_.activation_format;
  const int threads = threads_;
  const auto t0 = Clock::now();

  // Attention block: x += Wo · attn(rope(Wq xb), rope(Wk xb), Wv xb)
  for (int64_t t = 0; t < T; ++t) {
    RmsNorm(st.x(t), attn_norm_[l].data(), D, c.rms_norm_eps, st.xb(t));
  }
  MatMulAuto(st.xb(0), T, w.wq, &w.bq, st.q(0), threads, det, act);
  MatMulAuto(st.xb(0), T, w.wk, &w.bk, st.k(0), threads, det, act);
  MatMulAuto(st.xb(0), T, w.wv, &w.bv, st.v(0), threads, det, act);
  const int kv_dim = c.num_kv_heads * c.head_dim;
  for (int64_t t = 0; t < T; ++t) {
    rope_.Apply(st.q(t), c.num_heads, st.position(t));
    rope_.Apply(st.k(t), c.num_kv_heads, st.position(t));
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
  // from here Engine::Step() turns it into a Status.
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
    RmsNorm(st.x(t), ffn_norm_[l].data(), D, c.rms_norm_eps, st.xb(t));
  }
  st.SetRowStream(static_cast<uint32_t>(l));
  if (observer_) observer_(l, st.xb(0), T);
  const FfnCallInfo info = ffn_->Forward(w, l, st.xb(0), T, st.rows(), st.ffn_out(0), st.zeros());
  st.AddToResidual(st.ffn_out(0));
  const auto t2 = Clock::now();

  LayerStats& ls = out.layers[l];
  ls.attention_seconds += Seconds(t0, t1);
  ls.ffn_seconds += Seconds(t1, t2);
  ls.ffn_calls += 1;
  ls.union_active += info.union_active;
  ls.sparse_calls += info.sparse ? 1 : 0;
  ls.predictor_calls += info.predicted ? 1 : 0;
  out.zeros[l].assign(st.zeros(), st.zeros() + T);
}

void CpuBackend::Logits(const BackendStep& step, BackendOutput& out) {
  const ModelConfig& c = model_->config();
  const int D = c.hidden_size, V = c.vocab_size;
  const std::vector<int64_t>& rows = step.logit_rows;
  out.logits.resize(rows.size());
  if (rows.empty()) return;
  std::vector<float> xn(rows.size() * D), logits(rows.size() * V);
  for (size_t r = 0; r < rows.size(); ++r) {
    RmsNorm(state_.x(rows[r]), final_norm_.data(), D, c.rms_norm_eps, &xn[r * D]);
  }
  MatMulAuto(xn.data(), static_cast<int64_t>(rows.size()), model_->weights().lm_head, nullptr,
             logits.data(), threads_, options_.deterministic, options_.activation_format);
  for (size_t r = 0; r < rows.size(); ++r) {
    out.logits[r].assign(logits.begin() + r * V, logits.begin() + (r + 1) * V);
  }
}

}  // namespace stocha
