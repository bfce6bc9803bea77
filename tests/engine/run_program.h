// Runs a built program with a shell command line and collects its exit code and output
// (stdout and stderr together), for the black-box tests of the command-line tools.
#ifndef STOCHA_TESTS_ENGINE_RUN_PROGRAM_H_
#define STOCHA_TESTS_ENGINE_RUN_PROGRAM_H_

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace stocha::testing {

struct ProgramResult {
  int code;  // the exit status, -1 if the program did not exit normally
  std::string out;
};

// `STOCHA_BINARY_DIR/engine/tools/<tool> <args> 2>&1` through the shell.
inline ProgramResult RunTool(const std::string& tool, const std::string& args) {
  const std::string cmd =
      std::string(STOCHA_BINARY_DIR) + "/engine/tools/" + tool + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed: " + cmd};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace stocha::testing

#endif  // STOCHA_TESTS_ENGINE_RUN_PROGRAM_H_
