// --device=cpu|cuda[:N]: the one definition of the flag for every program that creates an Engine.
#ifndef STOCHA_ENGINE_TOOLS_DEVICE_FLAG_H_
#define STOCHA_ENGINE_TOOLS_DEVICE_FLAG_H_

#include "absl/status/statusor.h"
#include "engine/device.h"

namespace stocha {

// The parsed --device flag (default cpu); a bad value is InvalidArgument naming --device.
absl::StatusOr<Device> DeviceFromFlag();

}  // namespace stocha

#endif  // STOCHA_ENGINE_TOOLS_DEVICE_FLAG_H_
