// Applies an FFN activation (SiLU, ReLU, StochA) to a row and counts its exact zeros.
#ifndef STOCHA_ENGINE_KERNELS_CPU_ACTIVATION_KERNEL_H_
#define STOCHA_ENGINE_KERNELS_CPU_ACTIVATION_KERNEL_H_

#include <cstdint>

#include "engine/activation.h"
#include "engine/rng.h"

namespace stocha {

// In place over x[0..n). StochA draws element i's Bernoulli from `key` (whose stream is
// the layer) and counter i, so the result is a pure function of (key, x).
// Returns the number of exact zeros after the activation.
int64_t ApplyActivation(const ActivationSpec& spec, const RngKey& key, float* x, int64_t n);

inline float Silu(float x) { return x / (1.0f + __builtin_expf(-x)); }

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_ACTIVATION_KERNEL_H_
