// Sanitizer suppressions for the uninstrumented third-party libraries Debian ships.
//
// TSan: absl::Status drops its last reference in UnrefNonInlined, compiled into
// libabsl_status.so without -fsanitize=thread: TSan misses that atomic decrement and
// reports the delete as a race.
// LSan: c-ares (gRPC's DNS resolver, used for "localhost") keeps a 10-byte allocation for
// the life of the process.
// Nothing of ours is suppressed. The functions are unused in builds without sanitizers.
extern "C" const char* __tsan_default_suppressions() {
  return "race:Status::UnrefNonInlined\n"
         "race:Status::Unref\n";
}

extern "C" const char* __lsan_default_suppressions() { return "leak:libcares.so\n"; }
