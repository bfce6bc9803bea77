// LoadModel: format detection and dispatch to the per-format loaders.
#include "engine/format/load_model.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/format/gguf.h"
#include "engine/format/gguf_loader.h"
#include "engine/format/hf_loader.h"
#include "engine/format/llama2c_loader.h"
#include "engine/format/mapped_file.h"
#include "engine/format/status_macros.h"

namespace stocha {

absl::StatusOr<std::shared_ptr<const Model>> LoadModel(const std::string& path,
                                                       const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  if (fs::is_directory(status)) {
    if (!fs::exists(fs::path(path) / "config.json", ec)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": a model directory needs a config.json (Hugging Face format)"));
    }
    return LoadHfModel(path, options);
  }
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  const absl::Span<const uint8_t> bytes = file->bytes();
  if (IsGguf(bytes)) return LoadGgufFromBytes(bytes, path, std::move(file), options);
  return LoadLlama2cFromBytes(bytes, path, std::move(file), options);
}

}  // namespace stocha
