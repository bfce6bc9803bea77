// Holds back streamed text that might be the start of a stop string, so none leaks.
#ifndef STOCHA_ENGINE_SAMPLING_STOP_MATCHER_H_
#define STOCHA_ENGINE_SAMPLING_STOP_MATCHER_H_

#include <string>
#include <string_view>
#include <vector>

namespace stocha {

// Feed decoded text as it arrives; what Push returns is safe to show. Once a stop string
// appears, the text before its first occurrence is returned and stopped() turns true.
// Thread-safety: none; one per sample.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  std::string Push(std::string_view text);
  std::string Flush();  // the held-back tail (when generation ends for another reason)
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_SAMPLING_STOP_MATCHER_H_
