// LogLine: one formatted write(2) per line.
#include "server/log.h"

#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace stocha::server {

void LogLine(char severity, std::string_view message) {
  std::string line = absl::FormatTime("%m%d %H:%M:%E6S", absl::Now(), absl::LocalTimeZone());
  line.insert(line.begin(), severity);
  line += " stocha-server] ";
  line += message;
  line += '\n';
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace stocha::server
