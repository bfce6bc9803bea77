// libFuzzer target: llama2.c checkpoint header and layout checks, then Model::Assemble.
#include "engine/format/fuzz/fuzz_util.h"
#include "engine/format/llama2c_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)stocha::LoadLlama2cFromBytes({data, size}, "fuzz.bin", nullptr,
                                     stocha::fuzz::ReadAllBytes());
  return 0;
}
