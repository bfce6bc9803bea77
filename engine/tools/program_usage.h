// The --help text of stocha's command-line programs, set up one way for all of them.
#ifndef STOCHA_ENGINE_TOOLS_PROGRAM_USAGE_H_
#define STOCHA_ENGINE_TOOLS_PROGRAM_USAGE_H_

#include <string_view>

namespace stocha {

// Sets the usage message absl prints for --help, and makes --help and --helpshort list
// the program's own flags: those defined in source files whose path contains `flags_in`
// (e.g. "server/main.cc", or "bench/" for every benchmark's shared and own flags), and
// --device (tools/device_flag.cc) where the program has it; not the flags of the
// libraries it links. Call once, before absl::ParseCommandLine.
void SetProgramUsage(const char* usage, std::string_view flags_in);

}  // namespace stocha

#endif  // STOCHA_ENGINE_TOOLS_PROGRAM_USAGE_H_
