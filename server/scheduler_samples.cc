// Scheduler, per sample: first tokens after the prefill, sampling, stop checks, chunks.
#include <algorithm>
#include <utility>
#include <vector>

#include "engine/rng.h"
#include "engine/sampler.h"
#include "server/scheduler.h"

namespace stocha::server {
namespace {

bool Contains(const std::vector<int>& ids, int id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

void Scheduler::StartSamples(Job& job, const std::vector<float>& logits) {
  const GenerationRequest& r = job.request;
  job.samples.resize(r.n);
  job.samples[0].seq = job.root;
  for (int i = 1; i < r.n; ++i) {
    absl::StatusOr<SequenceId> seq =
        engine_->Fork(job.root, static_cast<uint32_t>(i), r.activation);
    if (!seq.ok()) {
      // Finish() runs after Emit: mark every sample done so the job ends with the error.
      job.error = seq.status();
      for (SampleState& s : job.samples) {
        s.finish = FinishReason::kCancelled;
      }
      return;
    }
    job.samples[i].seq = *seq;
  }
  for (int i = 0; i < r.n; ++i) {
    SampleState& s = job.samples[i];
    s.history = r.prompt;
    s.stream = std::make_unique<SampleStream>(engine_->tokenizer(), r.prompt.back(), r.stop_strings,
                                              r.logprobs);
    if (r.max_new_tokens == 0) {
      s.finish = FinishReason::kLength;
    } else {
      Advance(job, i, logits);
    }
  }
}

void Scheduler::Advance(Job& job, int sample, const std::vector<float>& logits) {
  const GenerationRequest& r = job.request;
  const ModelConfig& c = engine_->config();
  SampleState& s = job.samples[sample];
  const RngKey key{r.sampling.seed, static_cast<uint32_t>(sample),
                   static_cast<uint32_t>(s.history.size()), kSamplerStream};
  SampleResult pick = Sample(r.sampling, logits, s.history, s.generated, key);
  ++job.completion_tokens;
  if (job.first_token == absl::InfinitePast()) {
    job.first_token = absl::Now();
  }
  const int token = pick.token;
  const Tokenizer* tok = engine_->tokenizer();
  if (Contains(r.stop_token_ids, token)) {
    s.finish = FinishReason::kStop;
    s.stop_token_id = token;
  } else if (!r.ignore_eos && (Contains(c.eos_token_ids, token) || token == c.bos_token_id ||
                               (tok != nullptr && token == tok->eos_id()))) {
    s.finish = FinishReason::kEos;
  } else {
    s.generated.push_back(token);
    s.history.push_back(token);
    if (s.stream->Push(token, pick)) {
      s.finish = FinishReason::kStop;
      return;
    }
    if (static_cast<int>(s.generated.size()) >= r.max_new_tokens) {
      s.finish = FinishReason::kLength;
    } else {
      s.next_token = token;
      return;
    }
  }
  s.stream->Flush();
}

void Scheduler::Emit(Job& job) {
  for (size_t i = 0; i < job.samples.size(); ++i) {
    SampleState& s = job.samples[i];
    if (s.finish_sent || s.stream == nullptr) {
      continue;
    }
    SampleChunk chunk;
    chunk.sample_index = static_cast<int>(i);
    s.stream->TakeReleased(&chunk);
    if (s.finish.has_value()) {
      chunk.finish = s.finish;
      chunk.stop_string = s.stream->stop_string();
      chunk.stop_token_id = s.stop_token_id;
      s.finish_sent = true;
    }
    if (!chunk.empty()) {
      job.sink->OnChunk(std::move(chunk));
    }
  }
}

}  // namespace stocha::server
