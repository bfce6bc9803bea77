// Translation of results, model facts and load from plain types into stocha.v1 messages.
#ifndef STOCHA_SERVER_PROTO_CONVERT_H_
#define STOCHA_SERVER_PROTO_CONVERT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/batch_engine.h"
#include "server/request.h"
#include "server/request_from_proto.h"
#include "server/scheduler.h"
#include "stocha/v1/stocha.pb.h"

namespace stocha::server {

// Fills `out` from a chunk; the tokenizer (may be null) gives the bytes of logprob tokens.
void ChunkToProto(const SampleChunk& chunk, const Tokenizer* tokenizer, v1::GenerateChunk* out);
// Appends a chunk to sample chunk.sample_index of a unary response (samples pre-sized).
void AppendChunk(const SampleChunk& chunk, const Tokenizer* tokenizer, v1::GenerateResponse* out);
// Sets usage, timings, sparsity, seed and activation.
void SummaryToProto(const RequestSummary& summary, v1::GenerateResponse* out);

absl::StatusOr<v1::TokenizeResponse> Tokenize(const v1::TokenizeRequest& in,
                                              const BatchEngine& engine);
absl::StatusOr<v1::DetokenizeResponse> Detokenize(const v1::DetokenizeRequest& in,
                                                  const BatchEngine& engine);
v1::ModelInfo ModelInfoToProto(const BatchEngine& engine, const std::string& source,
                               const SchedulerOptions& scheduler, const RequestLimits& limits);
v1::Load LoadToProto(const LoadSnapshot& load);

}  // namespace stocha::server

#endif  // STOCHA_SERVER_PROTO_CONVERT_H_
