// The decoder forward pass on the GPU, layer by layer over the kernels of kernels/cuda/.
#include "engine/cuda/cuda_forward.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/format/status_macros.h"
#include "engine/kernels/cuda/attention.h"
#include "engine/kernels/cuda/elementwise.h"
#include "engine/kernels/cuda/gemm.h"
#include "engine/kernels/cuda/norm.h"
#include "engine/kernels/cuda/rope.h"

namespace stocha::cuda {
namespace {

absl::StatusOr<DeviceBuffer> Floats(int64_t n) { return DeviceBuffer::Allocate(n * 4); }

}  // namespace

CudaForward::CudaForward(std::shared_ptr<const Model> model, DeviceWeights weights, int max_context)
    : model_(std::move(model)), weights_(std::move(weights)), max_context_(max_context) {
  const ModelConfig& c = model_->config();
  cache_bytes_ = 2LL * c.num_layers * max_context_ * c.num_kv_heads * c.head_dim * 4;
}

absl::StatusOr<std::unique_ptr<CudaForward>> CudaForward::Create(std::shared_ptr<const Model> model,
                                                                 int max_context) {
  if (model == nullptr) return absl::InvalidArgumentError("CudaForward::Create: model is null");
  const ModelConfig& c = model->config();
  if (max_context < 1 || max_context > c.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("CudaForward::Create: max_context ", max_context,
                                                   " outside [1, ", c.max_position_embeddings,
                                                   "]"));
  }
  if (c.head_dim > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("head_dim ", c.head_dim, ": the CUDA attention kernel takes at most 256"));
  }
  STOCHA_ASSIGN_OR_RETURN(DeviceWeights w, DeviceWeights::Upload(*model));
  std::unique_ptr<CudaForward> f(new CudaForward(std::move(model), std::move(w), max_context));
  STOCHA_RETURN_IF_ERROR(f->AllocateScratch());
  // The uploads went to this thread's stream (device.h); the server steps on another
  // thread, whose stream is not ordered after this one's.
  STOCHA_RETURN_IF_ERROR(Synchronize());
  return f;
}

absl::Status CudaForward::AllocateScratch() {
  // At the Llama-3.2-1B shape (D 2048, F 8192, 32 heads, 8 KV heads of 64, V 128256) the
  // kMaxStepRows part is 31 MiB: x, xb, out 6 MiB, q and att 4, k and v 1, h and u 16,
  // half_ 4. The kMaxDeviceBatch part is what it was: logits 8 MiB, the sparse
  // partials 4 MiB, attention's scores 16 × 32 × max_context floats (16 MiB at 8192
  // positions). cuBLAS's workspace (32 MiB per thread, gemm.h) comes on top.
  const ModelConfig& c = model_->config();
  const int64_t B = kMaxStepRows, S = kMaxDeviceBatch, L = c.num_layers;
  const int64_t D = c.hidden_size, F = c.intermediate_size;
  const int64_t qd = static_cast<int64_t>(c.num_heads) * c.head_dim;
  const int64_t kvd = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  STOCHA_ASSIGN_OR_RETURN(x_, Floats(B * D));
  STOCHA_ASSIGN_OR_RETURN(xb_, Floats(B * D));
  STOCHA_ASSIGN_OR_RETURN(q_, Floats(B * qd));
  STOCHA_ASSIGN_OR_RETURN(k_, Floats(B * kvd));
  STOCHA_ASSIGN_OR_RETURN(v_, Floats(B * kvd));
  STOCHA_ASSIGN_OR_RETURN(att_, Floats(B * qd));
  STOCHA_ASSIGN_OR_RETURN(out_, Floats(B * D));
  STOCHA_ASSIGN_OR_RETURN(h_, Floats(B * F));
  if (!weights_.layers().empty() && weights_.layers()[0].w_gate.data != nullptr) {
    STOCHA_ASSIGN_OR_RETURN(u_, Floats(B * F));
  }
  STOCHA_ASSIGN_OR_RETURN(half_, DeviceBuffer::Allocate(B * std::max({D, qd, F}) * 2));
  STOCHA_ASSIGN_OR_RETURN(partials_, Floats(DownAxpyScratchFloats(S, F, D)));
  STOCHA_ASSIGN_OR_RETURN(scores_, Floats(AttentionScratchFloats(S, c.num_heads, max_context_)));
  STOCHA_ASSIGN_OR_RETURN(logits_, Floats(S * c.vocab_size));
  STOCHA_ASSIGN_OR_RETURN(tokens_, DeviceBuffer::Allocate(B * 4));
  STOCHA_ASSIGN_OR_RETURN(positions_, DeviceBuffer::Allocate(B * 4));
  STOCHA_ASSIGN_OR_RETURN(logit_rows_, DeviceBuffer::Allocate(S * 4));
  STOCHA_ASSIGN_OR_RETURN(
      att_rows_, DeviceBuffer::Allocate(L * B * static_cast<int64_t>(sizeof(DeviceAttentionRow))));
  STOCHA_ASSIGN_OR_RETURN(
      acts_, DeviceBuffer::Allocate(L * B * static_cast<int64_t>(sizeof(DeviceActivation))));
  STOCHA_ASSIGN_OR_RETURN(zeros_, DeviceBuffer::Allocate(L * B * 4));
  STOCHA_ASSIGN_OR_RETURN(active_, DeviceBuffer::Allocate(F));
  STOCHA_ASSIGN_OR_RETURN(idx_, DeviceBuffer::Allocate(F * 4));
  STOCHA_ASSIGN_OR_RETURN(count_, DeviceBuffer::Allocate(L * 4));
  STOCHA_ASSIGN_OR_RETURN(events_, DeviceEvents::Create(2 * static_cast<int>(L) + 1));
  return absl::OkStatus();
}

absl::StatusOr<int> CudaForward::NewCache() {
  STOCHA_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(cache_bytes_));
  const int id = next_cache_++;
  caches_.emplace(id, std::move(b));
  return id;
}

absl::StatusOr<int> CudaForward::ForkCache(int parent, int positions) {
  auto it = caches_.find(parent);
  if (it == caches_.end()) return absl::NotFoundError(absl::StrCat("no cache ", parent));
  if (positions < 0 || positions > max_context_) {
    return absl::InvalidArgumentError(absl::StrCat("ForkCache: positions ", positions));
  }
  STOCHA_ASSIGN_OR_RETURN(int child, NewCache());
  // Layout per cache: [layer][k|v][position][kv_dim]; copy each layer's first positions.
  const ModelConfig& c = model_->config();
  const int64_t kvd = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  const int64_t plane = static_cast<int64_t>(max_context_) * kvd * 4;
  const DeviceBuffer& src = caches_.at(parent);
  DeviceBuffer& dst = caches_.at(child);
  for (int64_t p = 0; p < 2LL * c.num_layers; ++p) {
    STOCHA_RETURN_IF_ERROR(dst.CopyRangeFromDevice(src, p * plane, p * plane, positions * kvd * 4));
  }
  return child;
}

absl::Status CudaForward::FreeCache(int cache) {
  if (caches_.erase(cache) == 0) return absl::NotFoundError(absl::StrCat("no cache ", cache));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> CudaForward::ReadCache(int cache) const {
  auto it = caches_.find(cache);
  if (it == caches_.end()) return absl::NotFoundError(absl::StrCat("no cache ", cache));
  std::vector<float> host(static_cast<size_t>(cache_bytes_ / 4));
  STOCHA_RETURN_IF_ERROR(Synchronize());
  STOCHA_RETURN_IF_ERROR(it->second.CopyToHost(host.data(), cache_bytes_));
  return host;
}

absl::StatusOr<ForwardOutput> CudaForward::Step(absl::Span<const TokenRow> rows) {
  const ModelConfig& c = model_->config();
  const int T = static_cast<int>(rows.size());
  if (T < 1 || T > kMaxStepRows) {
    return absl::InvalidArgumentError(
        absl::StrCat("CudaForward::Step: rows.size() ", T, " outside [1, ", kMaxStepRows, "]"));
  }
  const int L = c.num_layers;
  const int64_t kvd = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  const int64_t plane = static_cast<int64_t>(max_context_) * kvd;  // floats
  std::vector<int32_t> tokens(T), positions(T), logit_rows;
  std::vector<DeviceAttentionRow> att(static_cast<size_t>(L) * T);
  std::vector<DeviceActivation> acts(static_cast<size_t>(L) * T);
  bool sparse = false;
  for (int t = 0; t < T; ++t) {
    const TokenRow& r = rows[t];
    auto it = caches_.find(r.cache);
    if (it == caches_.end())
      return absl::NotFoundError(absl::StrCat("rows[", t, "]: no cache ", r.cache));
    if (r.token < 0 || r.token >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rows[", t, "]: token ", r.token, " outside the vocabulary [0, ", c.vocab_size, ")"));
    }
    if (r.position < 0 || r.position >= max_context_) {
      return absl::OutOfRangeError(absl::StrCat("rows[", t, "]: position ", r.position,
                                                " outside the context [0, ", max_context_, ")"));
    }
    tokens[t] = r.token;
    positions[t] = r.position;
    if (r.want_logits) logit_rows.push_back(t);
    sparse = sparse || r.activation.sparse();
    float* base = it->second.as<float>();
    for (int l = 0; l < L; ++l) {
      float* k = base + (2LL * l) * plane;
      float* v = base + (2LL * l + 1) * plane;
      att[static_cast<size_t>(l) * T + t] = {k, v, r.position};
      RngKey key = r.key;
      key.stream = static_cast<uint32_t>(l);
      acts[static_cast<size_t>(l) * T + t] = MakeDeviceActivation(r.activation, key);
    }
  }
  if (logit_rows.size() > static_cast<size_t>(kMaxDeviceBatch)) {
    return absl::InvalidArgumentError(absl::StrCat("CudaForward::Step: ", logit_rows.size(),
                                                   " rows with want_logits, at most ",
                                                   kMaxDeviceBatch, " per step"));
  }
  if (policy_ != FfnPolicy::kAuto) sparse = policy_ == FfnPolicy::kSparse;
  sparse = sparse && T < kGemmMinRows;  // cuBLAS's FFN is dense
  const int n_logits = static_cast<int>(logit_rows.size());
  STOCHA_RETURN_IF_ERROR(tokens_.CopyFromHost(tokens.data(), T * 4));
  STOCHA_RETURN_IF_ERROR(positions_.CopyFromHost(positions.data(), T * 4));
  STOCHA_RETURN_IF_ERROR(att_rows_.CopyFromHost(
      att.data(), static_cast<int64_t>(att.size() * sizeof(DeviceAttentionRow))));
  STOCHA_RETURN_IF_ERROR(acts_.CopyFromHost(
      acts.data(), static_cast<int64_t>(acts.size() * sizeof(DeviceActivation))));
  if (n_logits > 0)
    STOCHA_RETURN_IF_ERROR(logit_rows_.CopyFromHost(logit_rows.data(), n_logits * 4));

  STOCHA_ASSIGN_OR_RETURN(const bool replayed, LaunchStepMaybeGraph(T, n_logits, sparse));

  const int64_t V = c.vocab_size;
  ForwardOutput out;
  out.graph = replayed;
  std::vector<float> logits(static_cast<size_t>(n_logits) * V);
  std::vector<int32_t> zeros(static_cast<size_t>(L) * T);
  if (n_logits > 0) {
    STOCHA_RETURN_IF_ERROR(
        logits_.CopyToHost(logits.data(), static_cast<int64_t>(logits.size()) * 4));
  }
  STOCHA_RETURN_IF_ERROR(zeros_.CopyToHost(zeros.data(), static_cast<int64_t>(zeros.size()) * 4));
  out.sparse = sparse;
  out.union_active.assign(L, static_cast<int32_t>(c.intermediate_size));
  if (sparse) STOCHA_RETURN_IF_ERROR(count_.CopyToHost(out.union_active.data(), L * 4));
  // The copies above waited for the stream, so every event has completed.
  out.attention_seconds.resize(L);
  out.ffn_seconds.resize(L);
  for (int l = 0; l < L; ++l) {
    STOCHA_ASSIGN_OR_RETURN(out.attention_seconds[l], events_.Seconds(2 * l, 2 * l + 1));
    STOCHA_ASSIGN_OR_RETURN(out.ffn_seconds[l], events_.Seconds(2 * l + 1, 2 * l + 2));
  }
  out.logits.resize(T);
  for (int i = 0; i < n_logits; ++i) {
    out.logits[logit_rows[i]].assign(logits.begin() + i * V, logits.begin() + (i + 1) * V);
  }
  out.zeros.resize(L);
  for (int l = 0; l < L; ++l)
    out.zeros[l].assign(zeros.begin() + l * T, zeros.begin() + (l + 1) * T);
  return out;
}

void CudaForward::SetFfnPolicy(FfnPolicy policy) {
  if (policy != policy_) DropGraphs();
  policy_ = policy;
}

void CudaForward::SetBenchForceDensity(float density) {
  if (density != bench_force_density_) DropGraphs();
  bench_force_density_ = density;
}

void CudaForward::SetCudaGraphs(bool on) {
  if (!on) DropGraphs();
  graphs_on_ = on;
}

int CudaForward::graphs_held() const {
  int n = 0;
  for (const DeviceGraph& g : graphs_) n += g.empty() ? 0 : 1;
  return n;
}

void CudaForward::DropGraphs() {
  // A graph in flight is freed when it completes (cudaGraphExecDestroy), so no sync here.
  for (DeviceGraph& g : graphs_) g = DeviceGraph();
  slot_failures_.fill(0);
}

absl::Status CudaForward::LaunchStep(int T, int n_logits, bool sparse) {
  const ModelConfig& c = model_->config();
  const int64_t D = c.hidden_size, V = c.vocab_size;
  STOCHA_RETURN_IF_ERROR(EmbedRows(weights_.embed(), tokens_.as<int32_t>(), T, x_.as<float>()));
  STOCHA_RETURN_IF_ERROR(events_.Record(0));
  for (int l = 0; l < c.num_layers; ++l) STOCHA_RETURN_IF_ERROR(RunLayer(l, T, sparse));
  // The final norm and the LM head run over the rows that want logits only (a prefill
  // chunk wants its last one): gathered into out_, normed into xb_. Norm and row dots are
  // per row, so the gather changes no value.
  if (n_logits == 0) return absl::OkStatus();
  STOCHA_RETURN_IF_ERROR(
      GatherRows(x_.as<float>(), logit_rows_.as<int32_t>(), n_logits, D, out_.as<float>()));
  STOCHA_RETURN_IF_ERROR(RmsNormRows(out_.as<float>(), weights_.final_norm(), n_logits, D,
                                     c.rms_norm_eps, xb_.as<float>()));
  return RowDots(xb_.as<float>(), n_logits, weights_.lm_head(), nullptr, nullptr, 0,
                 logits_.as<float>(), V, RowDotsMode::kStore);
}

absl::StatusOr<bool> CudaForward::LaunchStepMaybeGraph(int T, int n_logits, bool sparse) {
  // A graph's launches are fixed by its key (rows, path); the LM head's row count is one
  // more of their shapes, so only steps whose every row wants logits (decode) replay one.
  const int slot = graphs_on_ && n_logits == T ? StepGraphSlot(T, sparse) : -1;
  if (slot < 0 || slot_failures_[slot] >= kCaptureTries) {
    STOCHA_RETURN_IF_ERROR(LaunchStep(T, n_logits, sparse));
    return false;
  }
  if (graphs_[slot].empty()) {
    const bool fail = fail_next_capture_;
    fail_next_capture_ = false;
    absl::StatusOr<DeviceGraph> g = DeviceGraph::Capture([&]() -> absl::Status {
      STOCHA_RETURN_IF_ERROR(LaunchStep(T, n_logits, sparse));
      return fail ? Synchronize() : absl::OkStatus();
    });
    if (!g.ok()) {
      // Nothing ran during the capture and the inputs are still in place, so the plain
      // launches give this step's answer. A sticky device error would fail the plain
      // launches too, and show.
      ++capture_failures_;
      ++slot_failures_[slot];
      STOCHA_RETURN_IF_ERROR(LaunchStep(T, n_logits, sparse));
      return false;
    }
    graphs_[slot] = *std::move(g);
  }
  STOCHA_RETURN_IF_ERROR(graphs_[slot].Launch());
  return true;
}

absl::Status CudaForward::Project(const float* x, int T, const DeviceMatrix& w, float* y,
                                  int64_t ldy) {
  if (T < kGemmMinRows) return RowDots(x, T, w, nullptr, nullptr, 0, y, ldy, RowDotsMode::kStore);
  return GemmXWt(x, T, w, y, ldy, half_.data());
}

absl::Status CudaForward::RunLayer(int l, int T, bool sparse) {
  STOCHA_RETURN_IF_ERROR(Attention(l, T));
  STOCHA_RETURN_IF_ERROR(events_.Record(2 * l + 1));
  STOCHA_RETURN_IF_ERROR(Ffn(l, T, sparse));
  return events_.Record(2 * l + 2);
}

// x += Wo · attn(rope(Wq xb), rope(Wk xb), Wv xb).
absl::Status CudaForward::Attention(int l, int T) {
  const ModelConfig& c = model_->config();
  const DeviceLayer& w = weights_.layers()[l];
  const int64_t D = c.hidden_size;
  const int64_t qd = static_cast<int64_t>(c.num_heads) * c.head_dim;
  const int64_t kvd = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  float* x = x_.as<float>();
  float* xb = xb_.as<float>();
  STOCHA_RETURN_IF_ERROR(RmsNormRows(x, w.attn_norm, T, D, c.rms_norm_eps, xb));
  STOCHA_RETURN_IF_ERROR(Project(xb, T, w.wq, q_.as<float>(), qd));
  STOCHA_RETURN_IF_ERROR(Project(xb, T, w.wk, k_.as<float>(), kvd));
  STOCHA_RETURN_IF_ERROR(Project(xb, T, w.wv, v_.as<float>(), kvd));
  if (w.bq != nullptr) STOCHA_RETURN_IF_ERROR(AddBiasRows(q_.as<float>(), w.bq, T, qd));
  if (w.bk != nullptr) STOCHA_RETURN_IF_ERROR(AddBiasRows(k_.as<float>(), w.bk, T, kvd));
  if (w.bv != nullptr) STOCHA_RETURN_IF_ERROR(AddBiasRows(v_.as<float>(), w.bv, T, kvd));
  STOCHA_RETURN_IF_ERROR(RopeRows(q_.as<float>(), T, c.num_heads, c.head_dim,
                                  positions_.as<int32_t>(), weights_.inv_freq(), c.rope_style));
  STOCHA_RETURN_IF_ERROR(RopeRows(k_.as<float>(), T, c.num_kv_heads, c.head_dim,
                                  positions_.as<int32_t>(), weights_.inv_freq(), c.rope_style));
  const DeviceAttentionRow* att_rows =
      att_rows_.as<DeviceAttentionRow>() + static_cast<int64_t>(l) * T;
  // Every row's key and value are written before any row attends: a row reads positions
  // up to its own only, so the chunk's later rows are invisible to it.
  STOCHA_RETURN_IF_ERROR(WriteKv(k_.as<float>(), v_.as<float>(), T, kvd, att_rows));
  // Attention in pieces of kMaxDeviceBatch rows, so its scratch (rows x heads x
  // max_context floats) does not grow with the chunk; a row's result does not depend on
  // its piece (attention.h).
  for (int t0 = 0; t0 < T; t0 += kMaxDeviceBatch) {
    const int n = std::min(kMaxDeviceBatch, T - t0);
    STOCHA_RETURN_IF_ERROR(Attend(q_.as<float>() + t0 * qd, n, c.num_heads, c.num_kv_heads,
                                  c.head_dim, att_rows + t0, max_context_, scores_.as<float>(),
                                  att_.as<float>() + t0 * qd));
  }
  STOCHA_RETURN_IF_ERROR(Project(att_.as<float>(), T, w.wo, out_.as<float>(), D));
  if (w.bo != nullptr) STOCHA_RETURN_IF_ERROR(AddBiasRows(out_.as<float>(), w.bo, T, D));
  return AddInPlace(x, out_.as<float>(), T * D);
}

// x += W_down · (act(W_gate xb) ⊙ W_up xb), or W_down · act(W_up xb). Below kGemmMinRows
// rows through the row-dot kernels (sparse: only the active neurons' rows); a larger step is
// dense through cuBLAS, with the same activation (StochA's draws, the zero counts per row).
absl::Status CudaForward::Ffn(int l, int T, bool sparse) {
  const ModelConfig& c = model_->config();
  const DeviceLayer& w = weights_.layers()[l];
  const int64_t D = c.hidden_size, F = c.intermediate_size;
  float* x = x_.as<float>();
  float* xb = xb_.as<float>();
  float* h = h_.as<float>();
  STOCHA_RETURN_IF_ERROR(RmsNormRows(x, w.ffn_norm, T, D, c.rms_norm_eps, xb));
  const bool gated = w.w_gate.data != nullptr;
  STOCHA_RETURN_IF_ERROR(Project(xb, T, gated ? w.w_gate : w.w_up, h, F));
  if (bench_force_density_ > 0.0f) {
    STOCHA_RETURN_IF_ERROR(ForceDensityForBench(
        h, T, F, F, bench_force_density_, positions_.as<int32_t>(), static_cast<uint32_t>(l)));
  }
  // Activate takes kMaxDeviceBatch rows a call; the union flags (active_) matter only to a
  // sparse step, which is never over kMaxDeviceBatch rows (sparse needs T < kGemmMinRows).
  for (int t0 = 0; t0 < T; t0 += kMaxDeviceBatch) {
    const int n = std::min(kMaxDeviceBatch, T - t0);
    const int64_t row = static_cast<int64_t>(l) * T + t0;
    STOCHA_RETURN_IF_ERROR(Activate(h + t0 * F, n, F, F, acts_.as<DeviceActivation>() + row,
                                    zeros_.as<int32_t>() + row, active_.as<uint8_t>()));
  }
  if (T >= kGemmMinRows) {
    if (gated) {
      STOCHA_RETURN_IF_ERROR(GemmXWt(xb, T, w.w_up, u_.as<float>(), F, half_.data()));
      STOCHA_RETURN_IF_ERROR(MulNonZero(h, u_.as<float>(), T * F));
    }
    STOCHA_RETURN_IF_ERROR(GemmXW(h, T, F, w.w_down_t, out_.as<float>(), half_.data()));
    return AddInPlace(x, out_.as<float>(), T * D);
  }
  const int32_t* idx = nullptr;
  const int32_t* count = nullptr;
  if (sparse) {
    count = count_.as<int32_t>() + l;
    STOCHA_RETURN_IF_ERROR(
        CompactActive(active_.as<uint8_t>(), F, idx_.as<int32_t>(), count_.as<int32_t>() + l));
    idx = idx_.as<int32_t>();
  }
  if (gated) {
    STOCHA_RETURN_IF_ERROR(RowDots(xb, T, w.w_up, idx, count, F, h, F, RowDotsMode::kScaleNonZero));
  }
  STOCHA_RETURN_IF_ERROR(
      DownAxpy(h, T, F, w.w_down_t, idx, count, partials_.as<float>(), out_.as<float>()));
  return AddInPlace(x, out_.as<float>(), T * D);
}

}  // namespace stocha::cuda
