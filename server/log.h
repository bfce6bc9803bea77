// Minimal timestamped logging to stderr (Debian 12's Abseil predates absl/log).
#ifndef STOCHA_SERVER_LOG_H_
#define STOCHA_SERVER_LOG_H_

#include <string_view>

#include "absl/strings/str_format.h"

namespace stocha::server {

// Writes "I0102 15:04:05.123456 stocha-server] message" (severity 'I', 'W' or 'E') as one
// write, so lines from different threads do not interleave. Thread-safe.
void LogLine(char severity, std::string_view message);

template <typename... Args>
void LogInfo(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine('I', absl::StrFormat(format, args...));
}
template <typename... Args>
void LogWarning(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine('W', absl::StrFormat(format, args...));
}
template <typename... Args>
void LogError(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine('E', absl::StrFormat(format, args...));
}

}  // namespace stocha::server

#endif  // STOCHA_SERVER_LOG_H_
