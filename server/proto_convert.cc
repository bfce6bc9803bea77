// Plain results, model facts and load -> stocha.v1 messages; Tokenize/Detokenize.
#include "server/proto_convert.h"

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "engine/activation.h"
#include "engine/sampling/sampler.h"

namespace stocha::server {
namespace {

v1::FinishReason ToProto(FinishReason r) {
  switch (r) {
    case FinishReason::kLength:
      return v1::FINISH_REASON_LENGTH;
    case FinishReason::kStop:
      return v1::FINISH_REASON_STOP;
    case FinishReason::kEos:
      return v1::FINISH_REASON_EOS;
    case FinishReason::kCancelled:
      return v1::FINISH_REASON_CANCELLED;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

std::string TokenBytes(const Tokenizer* tok, int token) {
  return tok == nullptr ? std::string() : tok->TokenBytes(-1, token);
}

void LogprobsToProto(const std::vector<SampleResult>& in, const Tokenizer* tok,
                     google::protobuf::RepeatedPtrField<v1::TokenLogprob>* out) {
  for (const SampleResult& r : in) {
    v1::TokenLogprob* lp = out->Add();
    lp->set_token_id(r.token);
    lp->set_token(TokenBytes(tok, r.token));
    lp->set_logprob(r.logprob);
    for (const TokenLogprob& t : r.top) {
      v1::TopLogprob* top = lp->add_top();
      top->set_token_id(t.token);
      top->set_token(TokenBytes(tok, t.token));
      top->set_logprob(t.logprob);
    }
  }
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

void ChunkToProto(const SampleChunk& chunk, const Tokenizer* tokenizer, v1::GenerateChunk* out) {
  out->set_sample_index(static_cast<uint32_t>(chunk.sample_index));
  out->set_text(chunk.text);
  out->mutable_token_ids()->Add(chunk.token_ids.begin(), chunk.token_ids.end());
  LogprobsToProto(chunk.logprobs, tokenizer, out->mutable_logprobs());
  if (chunk.finish.has_value()) {
    out->set_finish_reason(ToProto(*chunk.finish));
    out->set_stop_string(chunk.stop_string);
    if (chunk.stop_token_id.has_value()) {
      out->set_stop_token_id(*chunk.stop_token_id);
    }
  }
}

void AppendChunk(const SampleChunk& chunk, const Tokenizer* tokenizer, v1::GenerateResponse* out) {
  if (chunk.sample_index < 0 || chunk.sample_index >= out->samples_size()) {
    return;
  }
  v1::Sample* s = out->mutable_samples(chunk.sample_index);
  s->mutable_text()->append(chunk.text);
  s->mutable_token_ids()->Add(chunk.token_ids.begin(), chunk.token_ids.end());
  LogprobsToProto(chunk.logprobs, tokenizer, s->mutable_logprobs());
  if (chunk.finish.has_value()) {
    s->set_finish_reason(ToProto(*chunk.finish));
    s->set_stop_string(chunk.stop_string);
    if (chunk.stop_token_id.has_value()) {
      s->set_stop_token_id(*chunk.stop_token_id);
    }
  }
}

void SummaryToProto(const RequestSummary& sum, v1::GenerateResponse* out) {
  out->set_request_id(sum.request_id);
  v1::Usage* u = out->mutable_usage();
  u->set_prompt_tokens(static_cast<uint32_t>(sum.prompt_tokens));
  u->set_prompt_tokens_computed(static_cast<uint32_t>(sum.prompt_tokens_computed));
  u->set_completion_tokens(static_cast<uint32_t>(sum.completion_tokens));
  v1::Timings* t = out->mutable_timings();
  t->set_queued_ms(Ms(sum.queued));
  t->set_time_to_first_token_ms(Ms(sum.time_to_first_token));
  t->set_total_ms(Ms(sum.total));
  v1::Sparsity* sp = out->mutable_sparsity();
  int64_t pt = 0, pz = 0, gt = 0, gz = 0;
  const int f = sum.stats.ffn_dim;
  for (size_t l = 0; l < sum.stats.layers.size(); ++l) {
    const LayerStats& s = sum.stats.layers[l];
    v1::LayerSparsity* ls = sp->add_layers();
    ls->set_layer(static_cast<uint32_t>(l));
    ls->set_prompt_tokens(static_cast<uint64_t>(s.prompt_tokens));
    ls->set_prompt_sparsity(StepStats::Sparsity(s.prompt_zeros, s.prompt_tokens, f));
    ls->set_generated_tokens(static_cast<uint64_t>(s.generated_tokens));
    ls->set_generated_sparsity(StepStats::Sparsity(s.generated_zeros, s.generated_tokens, f));
    pt += s.prompt_tokens;
    pz += s.prompt_zeros;
    gt += s.generated_tokens;
    gz += s.generated_zeros;
  }
  sp->set_prompt_sparsity(StepStats::Sparsity(pz, pt, f));
  sp->set_generated_sparsity(StepStats::Sparsity(gz, gt, f));
  sp->set_exact(true);  // the engine reports every input's own counts
  out->set_seed(sum.seed);
  out->set_activation(ActivationToString(sum.activation));
}

absl::StatusOr<v1::TokenizeResponse> Tokenize(const v1::TokenizeRequest& in,
                                              const BatchEngine& engine) {
  const Tokenizer* tok = engine.tokenizer();
  if (tok == nullptr) {
    return absl::FailedPreconditionError("the model has no tokenizer");
  }
  absl::StatusOr<std::vector<int>> ids =
      tok->Encode(in.text(), in.has_add_bos() ? in.add_bos() : true);
  if (!ids.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("text: %s", ids.status().message()));
  }
  v1::TokenizeResponse out;
  out.mutable_token_ids()->Add(ids->begin(), ids->end());
  return out;
}

absl::StatusOr<v1::DetokenizeResponse> Detokenize(const v1::DetokenizeRequest& in,
                                                  const BatchEngine& engine) {
  const Tokenizer* tok = engine.tokenizer();
  if (tok == nullptr) {
    return absl::FailedPreconditionError("the model has no tokenizer");
  }
  StreamDecoder decoder(tok);
  v1::DetokenizeResponse out;
  for (int i = 0; i < in.token_ids_size(); ++i) {
    const int id = in.token_ids(i);
    if (id < 0 || id >= tok->vocab_size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("token_ids[%d]: token id %d is outside the vocabulary [0, %d)", i, id,
                          tok->vocab_size()));
    }
    out.mutable_text()->append(decoder.Push(id));
  }
  out.mutable_text()->append(decoder.Flush());
  return out;
}

v1::ModelInfo ModelInfoToProto(const BatchEngine& engine, const std::string& source,
                               const SchedulerOptions& sched, const RequestLimits& limits) {
  const ModelConfig& c = engine.config();
  v1::ModelInfo m;
  m.set_source(source);
  m.set_architecture("llama");
  m.set_vocab_size(static_cast<uint32_t>(c.vocab_size));
  m.set_hidden_size(static_cast<uint32_t>(c.hidden_size));
  m.set_intermediate_size(static_cast<uint32_t>(c.intermediate_size));
  m.set_num_layers(static_cast<uint32_t>(c.num_layers));
  m.set_num_heads(static_cast<uint32_t>(c.num_heads));
  m.set_num_kv_heads(static_cast<uint32_t>(c.num_kv_heads));
  m.set_head_dim(static_cast<uint32_t>(c.head_dim));
  m.set_context_length(static_cast<uint32_t>(engine.max_context()));
  m.set_mlp_gated(c.mlp_gated);
  m.set_hidden_act(ActivationKindName(c.hidden_act));
  m.set_default_activation(ActivationToString(c.DefaultActivation()));
  for (const std::string& mode : ActivationKindNames()) {
    m.add_activation_modes(mode);
  }
  m.set_training_recipe(c.stocha.recipe);
  m.set_training_p(c.stocha.p);
  m.set_bos_token_id(c.bos_token_id);
  m.mutable_eos_token_ids()->Add(c.eos_token_ids.begin(), c.eos_token_ids.end());
  m.set_deterministic(engine.deterministic());
  m.set_weight_type(engine.weight_type());
  m.set_backend(engine.backend());
  m.set_activation_format(engine.activation_format());
  v1::Limits* l = m.mutable_limits();
  l->set_max_new_tokens(static_cast<uint32_t>(limits.max_new_tokens));
  l->set_default_max_new_tokens(static_cast<uint32_t>(limits.default_max_new_tokens));
  l->set_max_n(static_cast<uint32_t>(limits.max_n));
  l->set_max_logprobs(static_cast<uint32_t>(kMaxTopLogprobs));
  l->set_max_prompt_tokens(static_cast<uint32_t>(engine.max_context() - 1));
  l->set_max_stop_strings(static_cast<uint32_t>(limits.max_stop_strings));
  l->set_max_stop_string_bytes(static_cast<uint32_t>(limits.max_stop_string_bytes));
  l->set_max_batch_size(static_cast<uint32_t>(sched.max_batch_size));
  l->set_max_tokens_per_step(static_cast<uint32_t>(sched.max_tokens_per_step));
  l->set_max_queue(static_cast<uint32_t>(sched.queue.max_requests));
  l->set_max_queue_ms(Ms(sched.max_queue_time));
  return m;
}

v1::Load LoadToProto(const LoadSnapshot& s) {
  v1::Load l;
  l.set_queued_requests(static_cast<uint32_t>(s.queued_requests));
  l.set_queued_tokens(static_cast<uint64_t>(s.queued_tokens));
  l.set_running_requests(static_cast<uint32_t>(s.running_requests));
  l.set_running_sequences(static_cast<uint32_t>(s.running_sequences));
  l.set_kv_tokens_reserved(static_cast<uint64_t>(s.kv_reserved));
  l.set_kv_tokens_budget(static_cast<uint64_t>(s.kv_capacity));
  l.set_draining(s.draining);
  l.set_requests_admitted(s.admitted);
  l.set_steps(s.steps);
  l.set_prompt_tokens_computed(s.prompt_tokens_computed);
  l.set_generated_tokens(s.generated_tokens);
  return l;
}

}  // namespace stocha::server
