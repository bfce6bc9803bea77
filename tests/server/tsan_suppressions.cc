// ThreadSanitizer suppressions for the uninstrumented Abseil that Debian ships.
//
// absl::Status drops its last reference in UnrefNonInlined, compiled into libabsl_status.so
// without -fsanitize=thread: TSan misses that atomic decrement and reports the delete as a
// race. Nothing else is suppressed. Unused in builds without TSan.
extern "C" const char* __tsan_default_suppressions() {
  return "race:Status::UnrefNonInlined\n"
         "race:Status::Unref\n";
}
