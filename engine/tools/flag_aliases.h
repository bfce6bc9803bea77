// Old flag spellings kept as aliases of the absl flags of stocha's command-line programs.
//
// Every program parses its flags with absl (one spelling each, with underscores, as the
// server's: --max_new_tokens, --top_p). Older spellings (--max-tokens, --top-p) still work:
// this pre-pass rewrites them to the current name before absl::ParseCommandLine. Only the
// exact listed names are rewritten ("--old" or "--old=value"), and nothing after "--".
#ifndef STOCHA_ENGINE_TOOLS_FLAG_ALIASES_H_
#define STOCHA_ENGINE_TOOLS_FLAG_ALIASES_H_

#include <string>
#include <string_view>
#include <vector>

namespace stocha {

struct FlagAlias {
  std::string_view old_name;  // without the leading "--", e.g. "max-tokens"
  std::string_view name;      // the absl flag it stands for, e.g. "max_new_tokens"
};

// argv with the aliases rewritten; owns its strings. Not thread-safe (one per main()).
class AliasedArgv {
 public:
  AliasedArgv(int argc, char** argv, const std::vector<FlagAlias>& aliases);
  int argc() const { return static_cast<int>(ptrs_.size()) - 1; }
  // argv()[argc()] is nullptr, as main()'s.
  char** argv() { return ptrs_.data(); }

 private:
  std::vector<std::string> args_;
  std::vector<char*> ptrs_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_TOOLS_FLAG_ALIASES_H_
