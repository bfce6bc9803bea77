// Which type each weight is stored in when a model is quantized, and how to name the mix.
#ifndef STOCHA_ENGINE_MODEL_WEIGHT_TYPES_H_
#define STOCHA_ENGINE_MODEL_WEIGHT_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/dtype.h"

namespace stocha {

struct ModelWeights;

// Every DType this build knows (those DTypeName names), in enum order. Generic so that a
// type added to dtype.h needs only its name to be accepted by --type / --quantize.
std::vector<DType> KnownDTypes();

// "q8_0", "Q8_0", "bf16", ... -> the DType (case-insensitive DTypeName); nullopt if unknown.
std::optional<DType> ParseDType(std::string_view name);

// Lower-case names of KnownDTypes() (only the block types if `block_types_only`), joined by
// `sep` (for flag help and error messages).
std::string KnownDTypeNames(std::string_view sep, bool block_types_only = false);

// The value of a --quantize flag (stocha-server, stocha-generate, decode_bench): a block
// type by name, or InvalidArgument listing the accepted names.
absl::StatusOr<DType> ParseQuantizeFlag(std::string_view value);

// The type a weight of `shape` (row-major) is stored in when the model goes to `target`:
//   - 1-D tensors (norms, biases): F32, exact and tiny (llama.cpp keeps them F32 too);
//   - matrices: `target`, unless it is a block type and a row (shape[1]) is not a
//     multiple of its block size, or `transposed_too` (W_down, which the sparse path
//     re-blocks along its columns, TransposedWeights) and shape[0] is not either; then
//     kF16. llama.cpp (src/llama-quant.cpp, llama_tensor_get_type, "using fallback
//     quantization") first tries a 32-wide legacy type for a K-quant (Q4_K -> Q5_0,
//     Q6_K -> Q8_0, ...) and ends at F16 when the row is still not a multiple; for
//     Q8_0/Q4_0 targets (block 32) only that last step applies, so the two agree.
//     A K-quant added later still falls back straight to F16 here (no Q5_0/Q5_1).
DType StorageTypeFor(DType target, const std::vector<int64_t>& shape, bool transposed_too);

// How GetModelInfo and stocha_model_info name the weights: the type of the matrices
// (embedding, attention, FFN, classifier when untied), e.g. "Q8_0", or when they differ
// "mixed: Q8_0 91%, F16 9%" (shares of matrix elements, largest first, rounded). Norms and
// biases are left out: quantized files keep them F32 whatever the matrices are.
std::string WeightTypeSummary(const ModelWeights& weights);

}  // namespace stocha

#endif  // STOCHA_ENGINE_MODEL_WEIGHT_TYPES_H_
