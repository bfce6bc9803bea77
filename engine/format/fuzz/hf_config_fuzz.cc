// libFuzzer target: config.json and model.safetensors.index.json parsing.
#include "engine/format/hf_config.h"
#include "engine/format/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = stocha::ParseHfConfig(text, "config.json");
  if (config.ok()) (void)config->DefaultActivation();
  (void)stocha::ParseSafetensorsIndex(text, "model.safetensors.index.json");
  return 0;
}
