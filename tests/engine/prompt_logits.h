// Logits of a prompt fed one token per step, and the relative error between two such
// runs: shared by the tests that compare a model with its quantized or exported self.
#ifndef STOCHA_TESTS_ENGINE_PROMPT_LOGITS_H_
#define STOCHA_TESTS_ENGINE_PROMPT_LOGITS_H_

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"

namespace stocha::testing {

// Logits after each token of `prompt` (one per step, one thread, deterministic) on one
// sequence with `activation`, the FFN path forced by `policy`, activations fed as `act`.
inline std::vector<std::vector<float>> PromptLogits(std::shared_ptr<const Model> m,
                                                    const std::vector<int>& prompt,
                                                    const ActivationSpec& activation,
                                                    FfnPolicy policy,
                                                    ActivationFormat act = ActivationFormat::kF32) {
  EngineOptions o;
  o.activation_format = act;
  o.num_threads = 1;
  o.deterministic = true;
  o.ffn.policy = policy;
  auto e = std::move(*Engine::Create(std::move(m), o));
  const SequenceId s = *e->AddSequence({activation});
  std::vector<std::vector<float>> out;
  out.reserve(prompt.size());
  for (int t : prompt) {
    auto r = e->Step({StepInput{s, {t}, true, true}});
    EXPECT_TRUE(r.ok()) << r.status();
    out.push_back(r.ok() ? r->logits[0] : std::vector<float>());
  }
  return out;
}

// max |a - b| over all positions, relative to max |b|.
inline double MaxRelativeError(const std::vector<std::vector<float>>& a,
                               const std::vector<std::vector<float>>& b) {
  double err = 0, scale = 0;
  for (size_t p = 0; p < b.size(); ++p) {
    for (size_t i = 0; i < b[p].size(); ++i) {
      err = std::max(err, std::fabs(static_cast<double>(a[p][i]) - b[p][i]));
      scale = std::max(scale, std::fabs(static_cast<double>(b[p][i])));
    }
  }
  return err / scale;
}

}  // namespace stocha::testing

#endif  // STOCHA_TESTS_ENGINE_PROMPT_LOGITS_H_
