// Scheduler, per sample: forks after the prefill, the engine's SampleStream step, chunks.
#include <utility>
#include <vector>

#include "engine/sample_stream.h"
#include "server/scheduler.h"

namespace stocha::server {

void Scheduler::StartSamples(Job& job, const std::vector<float>& logits) {
  const GenerationRequest& r = job.request;
  job.samples.resize(r.n);
  job.samples[0].seq = job.root;
  for (int i = 1; i < r.n; ++i) {
    absl::StatusOr<SequenceId> seq = engine_->Fork(job.root, static_cast<uint32_t>(i));
    if (!seq.ok()) {
      job.error = seq.status();  // AllDone(): Finish() reports it after Emit
      return;
    }
    job.samples[i].seq = *seq;
  }
  SampleRules& rules = job.rules;
  rules.sampling = r.sampling;
  rules.max_new_tokens = r.max_new_tokens;  // capped at context - prompt by the service
  rules.stop_strings = r.stop_strings;
  rules.stop_token_ids = r.stop_token_ids;
  rules.ignore_eos = r.ignore_eos;
  rules.eos_ids = EndOfSequenceIds(engine_->config(), engine_->tokenizer());
  rules.keep_logprobs = r.logprobs;
  for (int i = 0; i < r.n; ++i) {
    SampleState& s = job.samples[i];
    s.stream.emplace(&rules, engine_->tokenizer(), r.prompt, static_cast<uint32_t>(i));
    if (!s.stream->finished()) {
      Advance(job, i, logits);
    }
  }
}

void Scheduler::Advance(Job& job, int sample, const std::vector<float>& logits) {
  job.samples[sample].stream->Advance(logits);
  ++job.completion_tokens;
  if (job.first_token == absl::InfinitePast()) {
    job.first_token = absl::Now();
  }
}

void Scheduler::Emit(Job& job) {
  for (size_t i = 0; i < job.samples.size(); ++i) {
    SampleState& s = job.samples[i];
    if (s.finish_sent || !s.stream.has_value()) {
      continue;
    }
    SampleChunk chunk;
    chunk.sample_index = static_cast<int>(i);
    s.stream->TakeReleased(&chunk.text, &chunk.token_ids, &chunk.logprobs);
    if (s.stream->finished()) {
      chunk.finish = s.stream->finish();
      chunk.stop_string = s.stream->stop_string();
      chunk.stop_token_id = s.stream->stop_token_id();
      s.finish_sent = true;
    }
    if (!chunk.empty()) {
      job.sink->OnChunk(std::move(chunk));
    }
  }
}

}  // namespace stocha::server
