// Locating ../shared/data fixtures; tests skip with one line when it is absent
// (fail under STOCHA_REQUIRE_FIXTURES=1).
#ifndef STOCHA_TESTS_ENGINE_TEST_DATA_H_
#define STOCHA_TESTS_ENGINE_TEST_DATA_H_

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fixtures.h"

namespace stocha::testing {

inline std::string SharedData(const std::string& rel) {
  return std::string(STOCHA_SHARED_DIR) + "/data/" + rel;
}

// Skips (or fails under STOCHA_REQUIRE_FIXTURES=1: tests/fixtures.h) without ../shared/data.
#define STOCHA_REQUIRE_SHARED_DATA()                                                            \
  do {                                                                                          \
    if (!std::filesystem::exists(::stocha::testing::SharedData("SOURCES.md"))) {                \
      STOCHA_FIXTURE_ABSENT("../shared/data is absent (a user's clone): fixture test skipped"); \
    }                                                                                           \
  } while (0)

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<float> ReadF32(const std::string& path) {
  const std::string bytes = ReadFile(path);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

}  // namespace stocha::testing

#endif  // STOCHA_TESTS_ENGINE_TEST_DATA_H_
