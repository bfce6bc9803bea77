// Engine: sequence bookkeeping, validation and step statistics around a Backend's forward pass.
#include "engine/engine.h"

#include <new>
#include <stdexcept>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "engine/backend.h"
#include "engine/kernels/cpu/row_isa.h"

namespace stocha {

std::string_view CpuRowKernels() { return RowIsaName(ActiveRowIsa()); }

struct Sequence {
  SequenceOptions options;
  ActivationSpec activation;
  int slot = 0;  // the backend's KV slot
  int position = 0;
};

struct Engine::Impl {
  std::shared_ptr<const Model> model;
  EngineOptions options;
  int max_context = 0;
  std::unique_ptr<Backend> backend;
  absl::flat_hash_map<SequenceId, Sequence> sequences;
  SequenceId next_id = 1;
  BackendStep step;  // reused across steps
  BackendOutput forward;

  Sequence* Find(SequenceId id) {
    auto it = sequences.find(id);
    return it == sequences.end() ? nullptr : &it->second;
  }
  absl::Status Validate(absl::Span<const StepInput> inputs);
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
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->max_context = options.max_context > 0 ? options.max_context : c.max_position_embeddings;
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      CreateBackend(model, options, impl->max_context);
  if (!backend.ok()) return backend.status();
  impl->backend = std::move(*backend);
  impl->model = std::move(model);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

absl::StatusOr<SequenceId> Engine::AddSequence(const SequenceOptions& options) {
  const ModelConfig& c = impl_->model->config();
  ActivationSpec act = options.activation.value_or(c.DefaultActivation());
  if (act.kind == ActivationKind::kStochA && !(act.p >= 0.0f && act.p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("activation p must be in [0, 1], got %g", act.p));
  }
  absl::StatusOr<int> slot = impl_->backend->NewSlot();
  if (!slot.ok()) return slot.status();
  const SequenceId id = impl_->next_id++;
  impl_->sequences.emplace(id, Sequence{options, act, *slot, 0});
  return id;
}

absl::StatusOr<SequenceId> Engine::Fork(SequenceId parent, uint32_t sample_index) {
  Sequence* p = impl_->Find(parent);
  if (p == nullptr) return absl::NotFoundError(absl::StrFormat("no sequence %d", parent));
  absl::StatusOr<int> slot = impl_->backend->ForkSlot(p->slot, p->position);
  if (!slot.ok()) return slot.status();
  SequenceOptions o = p->options;
  o.sample_index = sample_index;
  const Sequence child{o, p->activation, *slot, p->position};
  const SequenceId id = impl_->next_id++;
  impl_->sequences.emplace(id, child);
  return id;
}

absl::Status Engine::RemoveSequence(SequenceId seq) {
  Sequence* s = impl_->Find(seq);
  if (s == nullptr) return absl::NotFoundError(absl::StrFormat("no sequence %d", seq));
  impl_->backend->FreeSlot(s->slot);
  impl_->sequences.erase(seq);
  return absl::OkStatus();
}

absl::StatusOr<int> Engine::Position(SequenceId seq) const {
  Sequence* s = impl_->Find(seq);
  if (s == nullptr) return absl::NotFoundError(absl::StrFormat("no sequence %d", seq));
  return s->position;
}

int64_t Engine::KvBytesPerPosition() const { return impl_->backend->KvBytesPerPosition(); }
KvReservation Engine::kv_reservation() const { return impl_->backend->kv_reservation(); }
int Engine::num_sequences() const { return static_cast<int>(impl_->sequences.size()); }
absl::Status Engine::SetFfnInputObserver(FfnInputObserver observer) {
  return impl_->backend->SetFfnInputObserver(std::move(observer));
}
absl::Status Engine::SetFfnOptions(const FfnOptions& options) {
  return impl_->backend->SetFfnOptions(options);
}
const std::string& Engine::backend() const { return impl_->backend->name(); }
std::optional<DeviceMemoryInfo> Engine::DeviceMemory() const {
  return impl_->backend->DeviceMemory();
}
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

  // The rows in input order, each keyed for StochA by (seed, sample, position); prompt
  // positions always draw with sample index 0, so forks share the prompt's draws.
  BackendStep& step = impl_->step;
  step.rows.clear();
  step.logit_rows.clear();
  std::vector<int> row_input;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Sequence* s = impl_->Find(inputs[i].seq);
    for (size_t j = 0; j < inputs[i].tokens.size(); ++j) {
      const int pos = s->position + static_cast<int>(j);
      const uint32_t sample = inputs[i].is_prompt ? 0 : s->options.sample_index;
      step.rows.push_back(BackendRow{
          inputs[i].tokens[j], s->slot, pos,
          FfnRow{s->activation, RngKey{s->options.seed, sample, static_cast<uint32_t>(pos), 0}}});
      row_input.push_back(static_cast<int>(i));
    }
    if (inputs[i].want_logits)
      step.logit_rows.push_back(static_cast<int64_t>(step.rows.size()) - 1);
  }
  BackendOutput& f = impl_->forward;
  if (absl::Status st = impl_->backend->Forward(step, f); !st.ok()) return st;

  for (int l = 0; l < c.num_layers; ++l) {
    LayerStats& ls = out.stats.layers[l];
    ls.Add(f.layers[l]);
    for (size_t t = 0; t < step.rows.size(); ++t) {
      const StepInput& in = inputs[row_input[t]];
      LayerStats& li = out.per_input[row_input[t]].layers[l];
      for (LayerStats* s : {&ls, &li}) {
        if (in.is_prompt) {
          ++s->prompt_tokens;
          s->prompt_zeros += f.zeros[l][t];
        } else {
          ++s->generated_tokens;
          s->generated_zeros += f.zeros[l][t];
        }
      }
    }
  }
  for (const StepInput& in : inputs) {
    impl_->Find(in.seq)->position += static_cast<int>(in.tokens.size());
  }
  out.logits.resize(inputs.size());
  size_t r = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].want_logits) out.logits[i] = std::move(f.logits[r++]);
  }
  return out;
}

}  // namespace stocha
