// A loaded model: config, immutable weights and (optionally) its tokenizer.
#ifndef STOCHA_ENGINE_MODEL_MODEL_H_
#define STOCHA_ENGINE_MODEL_MODEL_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/dtype.h"
#include "engine/model/model_config.h"
#include "engine/model/tensor.h"
#include "engine/tokenizer.h"

namespace stocha {

// Linear weights are [out][in]; norms are [D]; biases are [out].
struct LayerWeights {
  Tensor attn_norm;       // [D]
  Tensor wq, wk, wv, wo;  // [H*hd][D], [KV*hd][D], [KV*hd][D], [D][H*hd]
  Tensor bq, bk, bv;      // optional (attention_bias)
  Tensor bo;              // optional [D]: HF Llama's attention_bias also biases o_proj
                          // (Qwen2 biases q/k/v only)
  Tensor ffn_norm;        // [D]
  Tensor w_gate;          // [F][D]; absent when !mlp_gated
  Tensor w_up;            // [F][D]
  Tensor w_down;          // [D][F]
};

struct ModelWeights {
  Tensor embed;  // [V][D]
  std::vector<LayerWeights> layers;
  Tensor final_norm;  // [D]
  Tensor lm_head;     // [V][D]; the same bytes as embed when tied
};

// Keeps whatever backs the tensors' bytes alive (mappings, converted buffers).
class WeightStorage {
 public:
  virtual ~WeightStorage() = default;
  // Advice: lets the whole pages inside [data, data + bytes) leave this process's memory
  // when this storage holds them and can bring them back unchanged on the next read (a
  // read-only file mapping). Returns whether it did; the bytes stay readable either way.
  virtual bool ReleasePages(const void* /*data*/, size_t /*bytes*/) const { return false; }
};

struct LoadOptions {
  std::string tokenizer_path;               // where the format keeps it apart (llama2.c)
  std::optional<DType> convert_weights_to;  // e.g. kBF16 for a smaller, faster copy
  // A block type (kQ8_0, kQ4_0, ...): matrices are quantized in memory at load, after
  // convert_weights_to, with ggml's reference rounding (QuantizeRow), each to the type
  // StorageTypeFor (weight_types.h) picks, so a row that is not a multiple of the block
  // size keeps F16, as stocha-quantize writes it; norms and biases become F32. Tensors
  // the file already stores in a block type are kept as they are (no double rounding).
  std::optional<DType> quantize;
};

// Thread-safety: immutable after Load; share one Model across threads and engines.
class Model {
 public:
  // For loaders (engine/format/load_model.h is the public entry point): validates the
  // config and every tensor's presence, dtype and shape; applies convert_weights_to.
  static absl::StatusOr<std::shared_ptr<const Model>> Assemble(
      std::string source, ModelConfig config, ModelWeights weights,
      std::vector<std::unique_ptr<WeightStorage>> storage, std::unique_ptr<Tokenizer> tokenizer,
      const LoadOptions& options);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }  // may be null
  const std::string& source() const { return source_; }

  // WeightStorage::ReleasePages for `t`'s bytes, by whichever storage holds them: for a
  // tensor the engine keeps its own copy of (W_down, transposed), so that a mapped file's
  // pages of it are not resident twice. Returns whether any storage released them.
  bool ReleasePages(const Tensor& t) const;

 private:
  Model() = default;
  std::string source_;
  ModelConfig config_;
  ModelWeights weights_;
  std::vector<std::unique_ptr<WeightStorage>> storage_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_MODEL_MODEL_H_
