// The one rule for tests that need ../shared fixtures: without them a test skips (a
// user's clone), unless STOCHA_REQUIRE_FIXTURES=1 (CI's .ci/run), where it fails, so a
// run without fixtures cannot go green. Skips for a missing CPU feature are not this.
#ifndef STOCHA_TESTS_FIXTURES_H_
#define STOCHA_TESTS_FIXTURES_H_

#include <cstdlib>
#include <string_view>

#include "gtest/gtest.h"

namespace stocha::fixtures {

inline bool Required() {
  const char* v = std::getenv("STOCHA_REQUIRE_FIXTURES");
  return v != nullptr && std::string_view(v) == "1";
}

}  // namespace stocha::fixtures

// Ends the current test (in a TEST body or a SetUp) because a fixture is missing: a skip
// printing `message` (anything `<<` takes, e.g. path << " absent"), or a failure under
// STOCHA_REQUIRE_FIXTURES=1. A failing SetUp skips the test body, as a skipping one does.
// `message` is a stream chain (`a << b`), so it cannot be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define STOCHA_FIXTURE_ABSENT(message)                                                   \
  do {                                                                                   \
    if (::stocha::fixtures::Required()) {                                                \
      GTEST_FAIL() << "STOCHA_REQUIRE_FIXTURES=1 but a fixture is missing: " << message; \
    }                                                                                    \
    GTEST_SKIP() << message;                                                             \
  } while (0)
// NOLINTEND(bugprone-macro-parentheses)

#endif  // STOCHA_TESTS_FIXTURES_H_
