// Early-return helpers for absl::Status / absl::StatusOr inside the loaders.
#ifndef STOCHA_ENGINE_FORMAT_STATUS_MACROS_H_
#define STOCHA_ENGINE_FORMAT_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Guarded so that an identical project-wide definition elsewhere does not clash.
#ifndef STOCHA_RETURN_IF_ERROR
#define STOCHA_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status stocha_status_ = (expr);          \
    if (!stocha_status_.ok()) return stocha_status_; \
  } while (0)
#endif

#ifndef STOCHA_ASSIGN_OR_RETURN
#define STOCHA_STATUS_CONCAT_INNER_(a, b) a##b
#define STOCHA_STATUS_CONCAT_(a, b) STOCHA_STATUS_CONCAT_INNER_(a, b)
#define STOCHA_ASSIGN_OR_RETURN(lhs, expr) \
  STOCHA_ASSIGN_OR_RETURN_IMPL_(STOCHA_STATUS_CONCAT_(stocha_statusor_, __LINE__), lhs, expr)
// `lhs` may be a declaration, so it cannot be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define STOCHA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
#endif

#endif  // STOCHA_ENGINE_FORMAT_STATUS_MACROS_H_
