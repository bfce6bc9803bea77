// --device=cpu|cuda[:N]: the one definition of the flag for every program that creates an Engine.
#ifndef STOCHA_ENGINE_TOOLS_DEVICE_FLAG_H_
#define STOCHA_ENGINE_TOOLS_DEVICE_FLAG_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/device.h"

namespace stocha {

// The parsed --device flag (default cpu); a bad value is InvalidArgument naming --device.
absl::StatusOr<Device> DeviceFromFlag();

// The --cuda_graphs flag (default true) for EngineOptions.cuda_graphs. On `device` = cpu
// it switches nothing: `note` gets the line to log when it was turned off there.
bool CudaGraphsFromFlag(const Device& device, std::string* note);

}  // namespace stocha

#endif  // STOCHA_ENGINE_TOOLS_DEVICE_FLAG_H_
