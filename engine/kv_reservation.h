// How a backend takes a sequence's KV-cache memory: as positions are written, or whole.
#ifndef STOCHA_ENGINE_KV_RESERVATION_H_
#define STOCHA_ENGINE_KV_RESERVATION_H_

#include <string_view>

namespace stocha {

// What an admission budget must charge a sequence for (server/kv_budget.h): a budget that
// counts written positions would admit more whole-context slots than the memory holds.
enum class KvReservation {
  // Memory grows with the positions written (the CPU's KvCache blocks): a sequence holds
  // at most prompt + generated positions.
  kGrowing,
  // A slot takes max_context positions when it is made (AddSequence / Fork) and holds them
  // until it is removed (the GPU's device buffers: no allocation inside a step).
  kWholeContext,
};

// "growing" or "whole-context", for logs.
inline std::string_view KvReservationName(KvReservation r) {
  return r == KvReservation::kWholeContext ? "whole-context" : "growing";
}

}  // namespace stocha

#endif  // STOCHA_ENGINE_KV_RESERVATION_H_
