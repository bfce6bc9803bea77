// Text and JSON reports of a Generate() result for stocha-generate.
#ifndef STOCHA_ENGINE_TOOLS_GENERATE_REPORT_H_
#define STOCHA_ENGINE_TOOLS_GENERATE_REPORT_H_

#include <string>

#include "engine/generate.h"

namespace stocha {

struct ReportInput {
  std::string model_path;
  std::string prompt;
  ActivationSpec activation;
  const GenerateRequest& request;
  const GenerateResult& result;
  double load_seconds;
  const Tokenizer* tokenizer;
};

// The samples (prompt + continuation), then a per-layer sparsity table.
std::string ReportText(const ReportInput& in);
// One JSON object: tokens, text, logprobs, per-layer sparsity, timings.
std::string ReportJson(const ReportInput& in);

}  // namespace stocha

#endif  // STOCHA_ENGINE_TOOLS_GENERATE_REPORT_H_
