// The public entry point: load any supported model file or directory into a Model.
#ifndef STOCHA_ENGINE_FORMAT_LOAD_MODEL_H_
#define STOCHA_ENGINE_FORMAT_LOAD_MODEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model/model.h"

namespace stocha {

// Detects the format of `path`:
//   a directory with config.json      -> Hugging Face (safetensors, sharded or not)
//   a file starting with "GGUF"        -> GGUF (llama architecture)
//   any other file                     -> llama2.c checkpoint (.bin, version 0)
// A nonexistent path is NotFound naming it; malformed files are InvalidArgument naming
// the file and the offending tensor or field. See docs/MODEL_FORMATS.md.
absl::StatusOr<std::shared_ptr<const Model>> LoadModel(const std::string& path,
                                                       const LoadOptions& options = {});

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_LOAD_MODEL_H_
