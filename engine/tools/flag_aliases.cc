// AliasedArgv: old flag spellings rewritten to the absl names.
#include "engine/tools/flag_aliases.h"

namespace stocha {

AliasedArgv::AliasedArgv(int argc, char** argv, const std::vector<FlagAlias>& aliases) {
  bool flags_done = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") flags_done = true;
    if (i > 0 && !flags_done && a.rfind("--", 0) == 0) {
      const size_t eq = a.find('=');
      const std::string_view name =
          std::string_view(a).substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      for (const FlagAlias& al : aliases) {
        if (name == al.old_name) {
          a = "--" + std::string(al.name) + (eq == std::string::npos ? "" : a.substr(eq));
          break;
        }
      }
    }
    args_.push_back(std::move(a));
  }
  for (std::string& s : args_) ptrs_.push_back(s.data());
  ptrs_.push_back(nullptr);
}

}  // namespace stocha
