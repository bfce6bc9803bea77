// SetProgramUsage: --help lists a program's own flags (and --device), not its libraries'.
#include "engine/tools/program_usage.h"

#include <string>

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace stocha {

void SetProgramUsage(const char* usage, std::string_view flags_in) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  // --device is defined once for every program that creates an Engine (device_flag.cc); a
  // program that does not link it has no such flag to list.
  config.contains_help_flags = [own = std::string(flags_in)](absl::string_view file) {
    return absl::StrContains(file, own) || absl::StrContains(file, "tools/device_flag.cc");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
}

}  // namespace stocha
