// ../shared/data's stories260K (llama2.c weights with its 512-token tokenizer), loaded for
// tests; call STOCHA_REQUIRE_SHARED_DATA() first.
#ifndef STOCHA_TESTS_ENGINE_STORIES260K_MODEL_H_
#define STOCHA_TESTS_ENGINE_STORIES260K_MODEL_H_

#include <memory>

#include "absl/status/statusor.h"
#include "engine/format/load_model.h"
#include "tests/engine/test_data.h"

namespace stocha::testing {

inline absl::StatusOr<std::shared_ptr<const Model>> LoadStories260K() {
  LoadOptions o;
  o.tokenizer_path = SharedData("stories260K/tok512.bin");
  return LoadModel(SharedData("stories260K/stories260K.bin"), o);
}

}  // namespace stocha::testing

#endif  // STOCHA_TESTS_ENGINE_STORIES260K_MODEL_H_
