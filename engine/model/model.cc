// Model::Assemble: the one place where loaded weights are checked against the config.
#include "engine/model/model.h"

#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/model/huge_page_buffer.h"
#include "engine/model/quant_blocks.h"
#include "engine/model/weight_types.h"

namespace stocha {
namespace {

// Owns a converted tensor's bytes (2 MiB-aligned huge pages when large; page-aligned
// otherwise, so kernels may use aligned loads).
class AlignedBuffer : public WeightStorage {
 public:
  explicit AlignedBuffer(size_t bytes) : buffer_(bytes) {}
  uint8_t* data() { return buffer_.data(); }

 private:
  HugePageBuffer buffer_;
};

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// `label` names the tensor when the loader left Tensor::name empty.
absl::Status CheckTensor(absl::string_view source, const Tensor& t, absl::string_view label,
                         const std::vector<int64_t>& expected) {
  const absl::string_view name = t.name.empty() ? label : absl::string_view(t.name);
  if (!t.present()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": missing tensor '", name, "'"));
  }
  if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16 &&
      !IsQuantized(t.dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": tensor '", name, "' has an unsupported dtype"));
  }
  if (IsQuantized(t.dtype) && (t.shape.size() != 2 || t.shape[1] % DTypeBlockSize(t.dtype) != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": tensor '", name, "' is ", std::string(DTypeName(t.dtype)), " with shape ",
        ShapeString(t.shape), ": block types need a matrix whose rows are a multiple of ",
        DTypeBlockSize(t.dtype), " elements"));
  }
  if (t.shape != expected) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": tensor '", name, "' has shape ",
                                                   ShapeString(t.shape), ", expected ",
                                                   ShapeString(expected)));
  }
  return absl::OkStatus();
}

absl::Status CheckAbsent(absl::string_view source, const Tensor& t, absl::string_view label,
                         absl::string_view why) {
  if (!t.present()) return absl::OkStatus();
  const absl::string_view name = t.name.empty() ? label : absl::string_view(t.name);
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": unexpected tensor '", name, "' (", why, ")"));
}

absl::Status CheckAttention(absl::string_view source, const ModelConfig& c, const LayerWeights& w,
                            const std::string& p) {
  const int64_t d = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim,
                kv = int64_t{c.num_kv_heads} * c.head_dim;
  const std::pair<const Tensor*, std::vector<int64_t>> checks[] = {
      {&w.attn_norm, {d}}, {&w.wq, {q, d}}, {&w.wk, {kv, d}}, {&w.wv, {kv, d}}, {&w.wo, {d, q}}};
  const char* labels[] = {"attn_norm", "wq", "wk", "wv", "wo"};
  for (size_t i = 0; i < std::size(checks); ++i) {
    if (auto s = CheckTensor(source, *checks[i].first, p + labels[i], checks[i].second); !s.ok()) {
      return s;
    }
  }
  const std::pair<const Tensor*, int64_t> biases[] = {{&w.bq, q}, {&w.bk, kv}, {&w.bv, kv}};
  const char* bias_labels[] = {"bq", "bk", "bv"};
  for (size_t i = 0; i < std::size(biases); ++i) {
    const Tensor& b = *biases[i].first;
    absl::Status s = c.attention_bias
                         ? CheckTensor(source, b, p + bias_labels[i], {biases[i].second})
                         : CheckAbsent(source, b, p + bias_labels[i], "attention_bias is false");
    if (!s.ok()) return s;
  }
  if (w.bo.present()) {
    absl::Status s = c.attention_bias
                         ? CheckTensor(source, w.bo, p + "bo", {d})
                         : CheckAbsent(source, w.bo, p + "bo", "attention_bias is false");
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckMlp(absl::string_view source, const ModelConfig& c, const LayerWeights& w,
                      const std::string& p) {
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  if (auto s = CheckTensor(source, w.ffn_norm, p + "ffn_norm", {d}); !s.ok()) return s;
  absl::Status s = c.mlp_gated ? CheckTensor(source, w.w_gate, p + "w_gate", {f, d})
                               : CheckAbsent(source, w.w_gate, p + "w_gate", "mlp_gated is false");
  if (!s.ok()) return s;
  if (auto s = CheckTensor(source, w.w_up, p + "w_up", {f, d}); !s.ok()) return s;
  if (auto s = CheckTensor(source, w.w_down, p + "w_down", {d, f}); !s.ok()) return s;
  if (IsQuantized(w.w_down.dtype) && d % 32 != 0) {  // re-blocked along D (TransposedMatrix)
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": tensor '", w.w_down.name, "' is ", std::string(DTypeName(w.w_down.dtype)),
        " but the hidden size ", d, " is not a multiple of 32"));
  }
  return absl::OkStatus();
}

absl::Status CheckWeights(absl::string_view source, const ModelConfig& c, ModelWeights& w) {
  const int64_t d = c.hidden_size, v = c.vocab_size;
  if (w.layers.size() != static_cast<size_t>(c.num_layers)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": found ", w.layers.size(),
                                                   " layers, num_hidden_layers is ", c.num_layers));
  }
  if (auto s = CheckTensor(source, w.embed, "embed", {v, d}); !s.ok()) return s;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const std::string prefix = absl::StrCat("layers.", i, ".");
    if (auto s = CheckAttention(source, c, w.layers[i], prefix); !s.ok()) return s;
    if (auto s = CheckMlp(source, c, w.layers[i], prefix); !s.ok()) return s;
  }
  if (auto s = CheckTensor(source, w.final_norm, "final_norm", {d}); !s.ok()) return s;
  if (!w.lm_head.present() && c.tie_word_embeddings) w.lm_head = w.embed;
  return CheckTensor(source, w.lm_head, "lm_head", {v, d});
}

float LoadElement(const void* data, DType dtype, size_t i) {
  if (dtype == DType::kF32) return static_cast<const float*>(data)[i];
  const uint16_t h = static_cast<const uint16_t*>(data)[i];
  return dtype == DType::kF16 ? F16ToF32(h) : BF16ToF32(h);
}

void StoreElement(void* data, DType dtype, size_t i, float x) {
  if (dtype == DType::kF32) {
    static_cast<float*>(data)[i] = x;
  } else {
    static_cast<uint16_t*>(data)[i] = dtype == DType::kF16 ? F32ToF16(x) : F32ToBF16(x);
  }
}

// Rewrites `t` to point at a converted copy owned by `storage`.
void Convert(Tensor& t, DType to, std::vector<std::unique_ptr<WeightStorage>>& storage) {
  if (t.dtype == to) return;
  const int64_t n = t.numel();
  if (IsQuantized(t.dtype)) {  // dequantize (exact), then store as `to`
    std::vector<float> f32(static_cast<size_t>(n));
    DequantizeRow(t.data, t.dtype, n, f32.data());
    auto buffer = std::make_unique<AlignedBuffer>(static_cast<size_t>(n) * DTypeSize(to));
    for (int64_t i = 0; i < n; ++i)
      StoreElement(buffer->data(), to, static_cast<size_t>(i), f32[i]);
    t.data = buffer->data();
    t.dtype = to;
    storage.push_back(std::move(buffer));
    return;
  }
  auto buffer = std::make_unique<AlignedBuffer>(static_cast<size_t>(n) * DTypeSize(to));
  uint8_t* out = buffer->data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    StoreElement(out, to, static_cast<size_t>(i),
                 LoadElement(t.data, t.dtype, static_cast<size_t>(i)));
  }
  t.data = buffer->data();
  t.dtype = to;
  storage.push_back(std::move(buffer));
}

// Matrices go to `to`; norm weights and biases go to F32 (tiny, and kept exact: GGUF
// files store them F32 whatever the matrices' type).
// The original storage (e.g. the mapping) stays alive; its pages are clean and evictable.
// Kernels load elements as their type: a tensor whose offset in the file is not a
// multiple of its element size (legal in safetensors) is copied to an aligned buffer.
void Realign(Tensor& t, std::vector<std::unique_ptr<WeightStorage>>& storage) {
  // Block types are read with unaligned loads (a 34- or 18-byte block has no alignment).
  if (!t.present() || IsQuantized(t.dtype) ||
      reinterpret_cast<uintptr_t>(t.data) % DTypeSize(t.dtype) == 0) {
    return;
  }
  auto buffer = std::make_unique<AlignedBuffer>(t.nbytes());
  std::memcpy(buffer->data(), t.data, t.nbytes());
  t.data = buffer->data();
  storage.push_back(std::move(buffer));
}

void RealignWeights(ModelWeights& w, std::vector<std::unique_ptr<WeightStorage>>& storage) {
  const bool tied = w.lm_head.data == w.embed.data;
  Realign(w.embed, storage);
  if (tied) {
    w.lm_head.data = w.embed.data;
  } else {
    Realign(w.lm_head, storage);
  }
  Realign(w.final_norm, storage);
  for (LayerWeights& l : w.layers) {
    for (Tensor* t : {&l.attn_norm, &l.ffn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up,
                      &l.w_down, &l.bq, &l.bk, &l.bv, &l.bo}) {
      Realign(*t, storage);
    }
  }
}

void ConvertWeights(ModelWeights& w, DType to,
                    std::vector<std::unique_ptr<WeightStorage>>& storage) {
  const bool tied = w.lm_head.data == w.embed.data && w.lm_head.dtype == w.embed.dtype;
  Convert(w.embed, to, storage);
  if (tied) {
    w.lm_head.data = w.embed.data;
    w.lm_head.dtype = w.embed.dtype;
  } else {
    Convert(w.lm_head, to, storage);
  }
  Convert(w.final_norm, DType::kF32, storage);
  for (LayerWeights& l : w.layers) {
    for (Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      if (t->present()) Convert(*t, to, storage);
    }
    for (Tensor* t : {&l.bq, &l.bk, &l.bv, &l.bo}) {
      if (t->present()) Convert(*t, DType::kF32, storage);
    }
    Convert(l.attn_norm, DType::kF32, storage);
    Convert(l.ffn_norm, DType::kF32, storage);
  }
}

// Rewrites the matrix `t` ([rows][cols]) as `to`, row by row through F32 (exact for the
// source types) and QuantizeRow for block types, into a buffer owned by `storage`.
void Requantize(Tensor& t, DType to, std::vector<std::unique_ptr<WeightStorage>>& storage) {
  const int64_t rows = t.shape[0], cols = t.shape[1];
  const size_t in_row = DTypeBytes(t.dtype, cols), out_row = DTypeBytes(to, cols);
  auto buffer = std::make_unique<AlignedBuffer>(static_cast<size_t>(rows) * out_row);
  const auto* in = static_cast<const uint8_t*>(t.data);
  uint8_t* out = buffer->data();
  const DType from = t.dtype;
#pragma omp parallel
  {
    std::vector<float> row(static_cast<size_t>(cols));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeRow(in + r * in_row, from, cols, row.data());
      uint8_t* dst = out + r * out_row;
      if (IsQuantized(to)) {
        QuantizeRow(row.data(), cols, to, dst);
      } else {
        for (int64_t i = 0; i < cols; ++i) StoreElement(dst, to, static_cast<size_t>(i), row[i]);
      }
    }
  }
  t.data = buffer->data();
  t.dtype = to;
  storage.push_back(std::move(buffer));
}

// LoadOptions::quantize: each matrix to StorageTypeFor(target, ...), unless the file
// already stores it in a block type; norms and biases to F32.
void QuantizeWeights(ModelWeights& w, DType target,
                     std::vector<std::unique_ptr<WeightStorage>>& storage) {
  auto matrix = [&](Tensor& t, bool transposed_too) {
    if (!t.present() || IsQuantized(t.dtype)) return;
    const DType to = StorageTypeFor(target, t.shape, transposed_too);
    if (to != t.dtype) Requantize(t, to, storage);
  };
  const bool tied = w.lm_head.data == w.embed.data && w.lm_head.dtype == w.embed.dtype;
  matrix(w.embed, false);
  if (tied) {
    w.lm_head.data = w.embed.data;
    w.lm_head.dtype = w.embed.dtype;
  } else {
    matrix(w.lm_head, false);
  }
  Convert(w.final_norm, DType::kF32, storage);
  for (LayerWeights& l : w.layers) {
    for (Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up}) matrix(*t, false);
    matrix(l.w_down, true);
    for (Tensor* t : {&l.attn_norm, &l.ffn_norm, &l.bq, &l.bk, &l.bv, &l.bo}) {
      if (t->present()) Convert(*t, DType::kF32, storage);
    }
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Model>> Model::Assemble(
    std::string source, ModelConfig config, ModelWeights weights,
    std::vector<std::unique_ptr<WeightStorage>> storage, std::unique_ptr<Tokenizer> tokenizer,
    const LoadOptions& options) {
  if (auto s = config.Validate(source); !s.ok()) return s;
  if (auto s = CheckWeights(source, config, weights); !s.ok()) return s;
  if (tokenizer != nullptr && tokenizer->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the tokenizer has ", tokenizer->vocab_size(),
                     " tokens but the model's vocab_size is ", config.vocab_size));
  }
  RealignWeights(weights, storage);
  if (options.convert_weights_to.has_value()) {
    ConvertWeights(weights, *options.convert_weights_to, storage);
  }
  if (options.quantize.has_value()) {
    if (!IsQuantized(*options.quantize)) {
      return absl::InvalidArgumentError(absl::StrCat(source,
                                                     ": quantize at load needs a block type, not ",
                                                     std::string(DTypeName(*options.quantize))));
    }
    QuantizeWeights(weights, *options.quantize, storage);
  }
  std::shared_ptr<Model> model(new Model());
  model->source_ = std::move(source);
  model->config_ = std::move(config);
  model->weights_ = std::move(weights);
  model->storage_ = std::move(storage);
  model->tokenizer_ = std::move(tokenizer);
  return std::shared_ptr<const Model>(std::move(model));
}

bool Model::ReleasePages(const Tensor& t) const {
  for (const auto& s : storage_) {
    if (s->ReleasePages(t.data, t.nbytes())) return true;
  }
  return false;
}

}  // namespace stocha
