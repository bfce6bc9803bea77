// libFuzzer target: safetensors parsing, then the HF name mapping and Model::Assemble.
#include <map>
#include <string>

#include "engine/format/fuzz/fuzz_util.h"
#include "engine/format/hf_loader.h"
#include "engine/format/safetensors.h"

namespace {

// A tiny Llama shape so that fuzzed headers can reach Assemble's shape checks.
stocha::ModelConfig TinyConfig() {
  stocha::ModelConfig c;
  c.hidden_size = 8;
  c.intermediate_size = 16;
  c.num_layers = 1;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 4;
  c.vocab_size = 4;
  c.max_position_embeddings = 16;
  c.tie_word_embeddings = true;
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tensors = stocha::ParseSafetensors({data, size}, "fuzz.safetensors");
  if (!tensors.ok()) return 0;
  std::map<std::string, stocha::SafetensorsTensor> by_name;
  for (stocha::SafetensorsTensor& t : *tensors) {
    stocha::fuzz::CheckInside(t.data, t.nbytes, data, size);
    std::string name = t.name;
    by_name.emplace(std::move(name), std::move(t));
  }
  const stocha::ModelConfig config = TinyConfig();
  auto weights = stocha::MapHfWeights(by_name, config, "fuzz.safetensors");
  if (!weights.ok()) return 0;
  auto model = stocha::Model::Assemble("fuzz.safetensors", config, *std::move(weights), {}, nullptr,
                                       stocha::fuzz::ReadAllBytes());
  return 0;
}
