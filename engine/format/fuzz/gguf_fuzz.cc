// libFuzzer target: GGUF parsing, metadata getters, the vocabulary and the llama loader.
#include "engine/format/fuzz/fuzz_util.h"
#include "engine/format/gguf.h"
#include "engine/format/gguf_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = stocha::ParseGguf({data, size}, "fuzz.gguf");
  if (!file.ok()) return 0;
  for (const stocha::GgufTensorInfo& t : file->tensors) {
    if (t.data != nullptr) stocha::fuzz::CheckInside(t.data, t.nbytes, data, size);
  }
  for (const auto& [key, value] : file->metadata) {
    (void)file->GetInt(key);
    (void)file->GetFloat(key, 0);
    (void)file->GetString(key);
    (void)file->GetStringArray(key);
    (void)file->GetFloatArray(key);
    (void)file->GetIntArray(key);
  }
  (void)stocha::ReadGgufVocab(*file, "fuzz.gguf");
  (void)stocha::LoadGgufFromBytes({data, size}, "fuzz.gguf", nullptr, stocha::fuzz::ReadAllBytes());
  return 0;
}
