// ChooseKvCapacity: the KV budget from --kv_cache_mb, the GPU's free memory, or the batch.
#include "server/kv_budget.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_format.h"

namespace stocha::server {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

// "512 MiB", or "200 bytes" below a MiB (tests, tiny models).
std::string Size(int64_t bytes) {
  return bytes >= kMiB ? absl::StrFormat("%d MiB", bytes / kMiB)
                       : absl::StrFormat("%d bytes", bytes);
}

}  // namespace

int64_t DeviceKvMarginBytes(int64_t total_bytes) {
  return std::max<int64_t>(512 * kMiB, total_bytes / 20);
}

absl::StatusOr<KvCapacity> ChooseKvCapacity(int64_t budget_bytes, int max_batch_size,
                                            const BatchEngine& engine) {
  const int64_t per_position = std::max<int64_t>(1, engine.KvBytesPerPosition());
  const int context = engine.max_context();
  const int64_t full = static_cast<int64_t>(max_batch_size) * context;
  const bool whole = engine.kv_reservation() == KvReservation::kWholeContext;
  const std::optional<DeviceMemoryInfo> device = engine.DeviceMemory();
  const int64_t margin = device.has_value() ? DeviceKvMarginBytes(device->total_bytes) : 0;
  KvCapacity c;
  c.bytes_per_position = per_position;
  bool from_device = false;
  if (budget_bytes > 0) {
    c.positions = budget_bytes / per_position;
    c.source = absl::StrFormat("--kv_cache_mb: %s", Size(budget_bytes));
    if (device.has_value() && budget_bytes > device->free_bytes - margin) {
      c.warning = absl::StrFormat(
          "--kv_cache_mb (%s) exceeds the GPU's free memory less the safety margin (%s free, "
          "%s margin): a KV slot allocation may fail, and that request then ends "
          "RESOURCE_EXHAUSTED",
          Size(budget_bytes), Size(device->free_bytes), Size(margin));
    }
  } else if (device.has_value()) {
    from_device = true;
    const int64_t usable = std::max<int64_t>(0, device->free_bytes - margin);
    c.positions = std::min(usable / per_position, full);
    c.source = absl::StrFormat(
        "the GPU's free memory after the weights (%s) less a %s safety margin (5%% of %s, at "
        "least 512 MiB)%s",
        Size(device->free_bytes), Size(margin), Size(device->total_bytes),
        usable / per_position > full
            ? absl::StrFormat(", capped at max_batch_size (%d) full contexts", max_batch_size)
            : "");
  } else {
    c.positions = full;
    c.source = absl::StrFormat("max_batch_size (%d) full contexts", max_batch_size);
  }
  const int64_t minimum = whole ? context : 2;
  if (c.positions < minimum) {
    const std::string hint = from_device ? "lower --max_context or free GPU memory"
                             : whole     ? "raise --kv_cache_mb or lower --max_context"
                                         : "raise --kv_cache_mb";
    const std::string what = absl::StrFormat(
        "the KV budget (%s) holds %d positions of %d bytes; it needs at least %d%s: %s", c.source,
        c.positions, per_position, minimum,
        whole ? " (one sequence takes its whole context on this backend)" : "", hint);
    return from_device ? absl::ResourceExhaustedError(what) : absl::InvalidArgumentError(what);
  }
  return c;
}

}  // namespace stocha::server
