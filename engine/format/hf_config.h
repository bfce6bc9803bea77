// Hugging Face config.json -> ModelConfig (Llama family plus stocha's own keys).
#ifndef STOCHA_ENGINE_FORMAT_HF_CONFIG_H_
#define STOCHA_ENGINE_FORMAT_HF_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/model_config.h"

namespace stocha {

// Parses and validates config.json text. Errors are InvalidArgument naming `source` and
// the field. Keys are listed in docs/MODEL_FORMATS.md; unknown keys are ignored.
absl::StatusOr<ModelConfig> ParseHfConfig(absl::string_view json_text, absl::string_view source);

// Reads `path` and parses it with ParseHfConfig (source = path).
absl::StatusOr<ModelConfig> ReadHfConfigFile(const std::string& path);

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_HF_CONFIG_H_
