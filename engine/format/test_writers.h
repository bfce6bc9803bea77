// Test-only writers for tiny llama2.c, GGUF and safetensors files (and a temp directory).
#ifndef STOCHA_ENGINE_FORMAT_TEST_WRITERS_H_
#define STOCHA_ENGINE_FORMAT_TEST_WRITERS_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/format/gguf.h"
#include "engine/format/gguf_writer.h"
#include "engine/format/temp_dir.h"
#include "engine/model/dtype.h"
#include "engine/model/model.h"
#include "engine/model/quant_blocks.h"
#include "engine/model/tensor.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace stocha::test {

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <typename T>
void Put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// The block type named "Q8_0", "Q4_0", "Q4_K", "Q5_K" or "Q6_K", or nullopt.
inline std::optional<DType> BlockTypeNamed(const std::string& name) {
  for (DType dt : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    if (name == DTypeName(dt)) return dt;
  }
  return std::nullopt;
}

// The GGUF type id of a dtype name ("F32", "Q4_K", ...): GgmlTypeName's table (gguf.h),
// the one list of ggml type ids; 30 (BF16) for a name it lacks, as before.
inline uint32_t GgmlTypeOf(const std::string& name) {
  for (uint32_t id = 0; id < 64; ++id) {
    if (GgmlTypeName(id) == name) return id;
  }
  return 30;
}

// Encodes floats as "F32", "F16" or "BF16" little-endian bytes, or as "Q8_0" / "Q4_0" /
// "Q4_K" / "Q5_K" / "Q6_K" blocks with QuantizeRow (quant_blocks.h; row-major values whose
// rows are multiples of the block size, 32 or 256, so no block straddles two rows).
inline std::string Encode(const std::vector<float>& values, const std::string& dtype) {
  std::string out;
  if (const std::optional<DType> block = BlockTypeNamed(dtype)) {
    const DType dt = *block;
    const int64_t n = static_cast<int64_t>(values.size());
    out.resize(DTypeBytes(dt, n));
    QuantizeRow(values.data(), n, dt, out.data());
    return out;
  }
  for (float v : values) {
    if (dtype == "F32") {
      Put(out, v);
    } else {
      Put(out, dtype == "F16" ? F32ToF16(v) : F32ToBF16(v));
    }
  }
  return out;
}

// Decodes any Tensor to floats, for comparisons.
inline std::vector<float> Decode(const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  if (IsQuantized(t.dtype)) {
    DequantizeRow(t.data, t.dtype, t.numel(), out.data());
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const char* p = static_cast<const char*>(t.data) + i * DTypeSize(t.dtype);
    if (t.dtype == DType::kF32) {
      std::memcpy(&out[i], p, sizeof(float));
    } else {
      uint16_t h;
      std::memcpy(&h, p, sizeof h);
      out[i] = t.dtype == DType::kF16 ? F16ToF32(h) : BF16ToF32(h);
    }
  }
  return out;
}

// A tiny Llama (D=8, F=16, 2 layers, 2 heads, 1 KV head, V=32) with values that are exact
// in F32, F16 and BF16, so every format round-trips bit for bit.
struct TinyModel {
  int dim = 8, hidden = 16, layers = 2, heads = 2, kv_heads = 1, vocab = 32, seq_len = 16;
  bool tied = true;
  struct Layer {
    std::vector<float> attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_down, w_up;
  };
  std::vector<float> embed, final_norm, lm_head;  // lm_head empty when tied
  std::vector<Layer> layer;

  int head_dim() const { return dim / heads; }
  int kv_dim() const { return kv_heads * head_dim(); }

  static std::vector<float> Values(size_t n, int seed) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * 7 + seed * 13) % 61) / 32 - 1;
    return v;
  }
  static TinyModel Make(bool tied) { return Make(TinyModel(), tied); }
  // The same recipe at the sizes of `m` (e.g. dim and hidden multiples of 32, the
  // row length Q8_0/Q4_0 need).
  static TinyModel Make(TinyModel m, bool tied) {
    m.tied = tied;
    const size_t d = m.dim, f = m.hidden, kv = m.kv_dim(), v = m.vocab;
    int seed = 0;
    m.embed = Values(v * d, ++seed);
    for (int l = 0; l < m.layers; ++l) {
      m.layer.push_back({Values(d, ++seed), Values(d * d, ++seed), Values(kv * d, ++seed),
                         Values(kv * d, ++seed), Values(d * d, ++seed), Values(d, ++seed),
                         Values(f * d, ++seed), Values(d * f, ++seed), Values(f * d, ++seed)});
    }
    m.final_norm = Values(d, ++seed);
    if (!tied) m.lm_head = Values(v * d, ++seed);
    return m;
  }
};

// llama2.c version-0 checkpoint bytes for `m` (SOURCES.md §2.1).
inline std::string Llama2cBytes(const TinyModel& m) {
  std::string out;
  for (int x :
       {m.dim, m.hidden, m.layers, m.heads, m.kv_heads, m.tied ? m.vocab : -m.vocab, m.seq_len}) {
    Put<int32_t>(out, x);
  }
  auto put = [&](const std::vector<float>& v) { out += Encode(v, "F32"); };
  put(m.embed);
  using L = TinyModel::Layer;
  for (std::vector<float> L::*field : {&L::attn_norm, &L::wq, &L::wk, &L::wv, &L::wo, &L::ffn_norm,
                                       &L::w_gate, &L::w_down, &L::w_up}) {
    for (const L& l : m.layer) put(l.*field);
  }
  put(m.final_norm);
  put(std::vector<float>(2 * m.seq_len * (m.head_dim() / 2), 0.5f));  // freq_cis
  if (!m.tied) put(m.lm_head);
  return out;
}

// ---- safetensors ----

struct StEntry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// A safetensors file from a raw JSON header and data section.
inline std::string SafetensorsRaw(const std::string& header, const std::string& data) {
  std::string out;
  Put<uint64_t>(out, header.size());
  return out + header + data;
}

inline std::string SafetensorsBytes(const std::vector<StEntry>& entries) {
  nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
  std::string data;
  for (const StEntry& e : entries) {
    header[e.name] = {{"dtype", e.dtype},
                      {"shape", e.shape},
                      {"data_offsets", {data.size(), data.size() + e.bytes.size()}}};
    data += e.bytes;
  }
  return SafetensorsRaw(header.dump(), data);
}

inline std::vector<StEntry> HfEntries(const TinyModel& m, const std::string& dtype) {
  const int64_t d = m.dim, f = m.hidden, kv = m.kv_dim(), v = m.vocab;
  std::vector<StEntry> e = {{"model.embed_tokens.weight", dtype, {v, d}, Encode(m.embed, dtype)},
                            {"model.norm.weight", dtype, {d}, Encode(m.final_norm, dtype)}};
  if (!m.tied) e.push_back({"lm_head.weight", dtype, {v, d}, Encode(m.lm_head, dtype)});
  for (int i = 0; i < m.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const TinyModel::Layer& l = m.layer[i];
    e.push_back({p + "input_layernorm.weight", dtype, {d}, Encode(l.attn_norm, dtype)});
    e.push_back({p + "self_attn.q_proj.weight", dtype, {d, d}, Encode(l.wq, dtype)});
    e.push_back({p + "self_attn.k_proj.weight", dtype, {kv, d}, Encode(l.wk, dtype)});
    e.push_back({p + "self_attn.v_proj.weight", dtype, {kv, d}, Encode(l.wv, dtype)});
    e.push_back({p + "self_attn.o_proj.weight", dtype, {d, d}, Encode(l.wo, dtype)});
    e.push_back({p + "post_attention_layernorm.weight", dtype, {d}, Encode(l.ffn_norm, dtype)});
    e.push_back({p + "mlp.gate_proj.weight", dtype, {f, d}, Encode(l.w_gate, dtype)});
    e.push_back({p + "mlp.up_proj.weight", dtype, {f, d}, Encode(l.w_up, dtype)});
    e.push_back({p + "mlp.down_proj.weight", dtype, {d, f}, Encode(l.w_down, dtype)});
  }
  return e;
}

inline nlohmann::json HfConfig(const TinyModel& m) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", m.dim},
          {"intermediate_size", m.hidden},
          {"num_hidden_layers", m.layers},
          {"num_attention_heads", m.heads},
          {"num_key_value_heads", m.kv_heads},
          {"max_position_embeddings", m.seq_len},
          {"vocab_size", m.vocab},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", m.tied},
          {"bos_token_id", 1},
          {"eos_token_id", 2}};
}

// Writes config.json + model.safetensors for `m` into `dir`.
inline void WriteHfDir(const std::string& dir, const TinyModel& m, const std::string& dtype) {
  WriteFile(dir + "/config.json", HfConfig(m).dump(2));
  WriteFile(dir + "/model.safetensors", SafetensorsBytes(HfEntries(m, dtype)));
}

// ---- GGUF ----

// Builds small GGUF files in memory: the convenience API of the tests over the project's
// one writer (engine/format/gguf_writer.h), with each tensor's bytes held until Build().
class GgufBuilder {
 public:
  static std::string Str(const std::string& s) { return GgufWriter::EncodeString(s); }
  // type: GGUF value type; value: its encoding (for arrays: elem type + count + elements).
  GgufBuilder& Raw(const std::string& key, uint32_t type, const std::string& value) {
    writer_.Raw(key, static_cast<GgufType>(type), value);
    return *this;
  }
  GgufBuilder& String(const std::string& key, const std::string& v) {
    writer_.String(key, v);
    return *this;
  }
  GgufBuilder& U32(const std::string& key, uint32_t v) {
    writer_.U32(key, v);
    return *this;
  }
  GgufBuilder& F32(const std::string& key, float v) {
    writer_.F32(key, v);
    return *this;
  }
  GgufBuilder& Bool(const std::string& key, bool v) {
    writer_.Bool(key, v);
    return *this;
  }
  GgufBuilder& Strings(const std::string& key, const std::vector<std::string>& v) {
    writer_.Strings(key, v);
    return *this;
  }
  GgufBuilder& F32s(const std::string& key, const std::vector<float>& v) {
    writer_.F32s(key, v);
    return *this;
  }
  GgufBuilder& I32s(const std::string& key, const std::vector<int32_t>& v) {
    writer_.I32s(key, v);
    return *this;
  }
  // `shape` is row-major (outermost first); GGUF stores it reversed.
  GgufBuilder& Tensor(const std::string& name, uint32_t ggml_type, std::vector<int64_t> shape,
                      const std::string& bytes) {
    writer_.AddTensor(name, ggml_type, std::move(shape), bytes.size());
    data_.push_back(bytes);
    return *this;
  }
  // Everything before the data section: header, metadata, tensor infos, padding.
  std::string Header(uint64_t alignment = 32, uint32_t version = 3) const {
    return writer_.HeaderBytes(alignment, version);
  }
  std::string Build(uint64_t alignment = 32, uint32_t version = 3) const {
    GgufWriter w = writer_;
    std::ostringstream out;
    absl::Status s = w.Begin(&out, alignment, version);
    for (const std::string& bytes : data_) {
      if (s.ok()) s = w.Append(bytes.data(), bytes.size());
    }
    if (s.ok()) s = w.Finish();
    EXPECT_TRUE(s.ok()) << s;
    return out.str();
  }
  template <typename V>
  static std::string Bytes(V v) {
    std::string out;
    Put(out, v);
    return out;
  }

 private:
  GgufWriter writer_;
  std::vector<std::string> data_;  // each tensor's bytes, in order
};

// A 32-token SentencePiece-style vocabulary: <unk> <s> </s>, then single letters.
inline std::vector<std::string> TinyTokens(int n) {
  std::vector<std::string> t = {"<unk>", "<s>", "</s>", "\xe2\x96\x81"};
  for (int i = static_cast<int>(t.size()); i < n; ++i) t.push_back(std::string(1, 'a' + i - 4));
  return t;
}

// The dtype name ("F32", "Q4_K", ...) TinyGguf writes each tensor in, by GGUF tensor name.
using TensorTypes = std::function<std::string(const std::string& name)>;

// The llama-architecture GGUF of `m`, each tensor in the dtype `types` names for it (a
// mixed file like llama.cpp's Q4_K_M), with a vocabulary of m.vocab tokens unless !vocab.
inline GgufBuilder TinyGguf(const TinyModel& m, const TensorTypes& types, bool vocab = true) {
  GgufBuilder b;
  b.String("general.architecture", "llama")
      .U32("llama.embedding_length", m.dim)
      .U32("llama.feed_forward_length", m.hidden)
      .U32("llama.block_count", m.layers)
      .U32("llama.attention.head_count", m.heads)
      .U32("llama.attention.head_count_kv", m.kv_heads)
      .U32("llama.context_length", m.seq_len)
      .U32("llama.rope.dimension_count", m.head_dim())
      .F32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  if (vocab) {
    b.String("tokenizer.ggml.model", "llama")
        .Strings("tokenizer.ggml.tokens", TinyTokens(m.vocab))
        .F32s("tokenizer.ggml.scores", std::vector<float>(m.vocab, 0.0f))
        .I32s("tokenizer.ggml.token_type", std::vector<int32_t>(m.vocab, 1))
        .U32("tokenizer.ggml.bos_token_id", 1)
        .U32("tokenizer.ggml.eos_token_id", 2);
  }
  auto add = [&](const std::string& name, std::vector<int64_t> shape,
                 const std::vector<float>& values) {
    const std::string dtype = types(name);
    b.Tensor(name, GgmlTypeOf(dtype), std::move(shape), Encode(values, dtype));
  };
  const int64_t d = m.dim, f = m.hidden, kv = m.kv_dim(), v = m.vocab;
  add("token_embd.weight", {v, d}, m.embed);
  add("output_norm.weight", {d}, m.final_norm);
  if (!m.tied) add("output.weight", {v, d}, m.lm_head);
  for (int i = 0; i < m.layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const TinyModel::Layer& l = m.layer[i];
    add(p + "attn_norm.weight", {d}, l.attn_norm);
    add(p + "attn_q.weight", {d, d}, l.wq);
    add(p + "attn_k.weight", {kv, d}, l.wk);
    add(p + "attn_v.weight", {kv, d}, l.wv);
    add(p + "attn_output.weight", {d, d}, l.wo);
    add(p + "ffn_norm.weight", {d}, l.ffn_norm);
    add(p + "ffn_gate.weight", {f, d}, l.w_gate);
    add(p + "ffn_up.weight", {f, d}, l.w_up);
    add(p + "ffn_down.weight", {d, f}, l.w_down);
  }
  return b;
}

// TinyGguf with every tensor in `ggml_type` (0 F32, 1 F16, 30 BF16, 8 Q8_0, 2 Q4_0, 12 Q4_K,
// 13 Q5_K, 14 Q6_K): block types quantize the matrices and keep norms F32, as llama.cpp's
// files do.
inline GgufBuilder TinyGguf(const TinyModel& m, uint32_t ggml_type = 0, bool vocab = true) {
  const std::string dtype = ggml_type == 0    ? "F32"
                            : ggml_type == 1  ? "F16"
                            : ggml_type == 8  ? "Q8_0"
                            : ggml_type == 2  ? "Q4_0"
                            : ggml_type == 12 ? "Q4_K"
                            : ggml_type == 13 ? "Q5_K"
                            : ggml_type == 14 ? "Q6_K"
                                              : "BF16";
  const bool quantized = BlockTypeNamed(dtype).has_value();
  return TinyGguf(
      m,
      [&](const std::string& name) {
        const bool norm =
            name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
        return norm && quantized ? std::string("F32") : dtype;
      },
      vocab);
}

// ---- checks ----

// Every tensor of `w` decodes to exactly the values of `m`.
// The hyperparameters every format reads from a TinyModel file (its sizes; the rest
// (RoPE layout, theta, eps, tying) differs by format and is checked by each test).
inline void ExpectTinySizes(const TinyModel& m, const ModelConfig& c) {
  EXPECT_EQ(c.hidden_size, m.dim);
  EXPECT_EQ(c.intermediate_size, m.hidden);
  EXPECT_EQ(c.num_layers, m.layers);
  EXPECT_EQ(c.num_heads, m.heads);
  EXPECT_EQ(c.num_kv_heads, m.kv_heads);
  EXPECT_EQ(c.head_dim, m.head_dim());
  EXPECT_EQ(c.vocab_size, m.vocab);
  EXPECT_EQ(c.max_position_embeddings, m.seq_len);
}

inline void ExpectWeightsEqual(const TinyModel& m, const ModelWeights& w) {
  EXPECT_EQ(Decode(w.embed), m.embed);
  EXPECT_EQ(Decode(w.final_norm), m.final_norm);
  EXPECT_EQ(Decode(w.lm_head), m.tied ? m.embed : m.lm_head);
  ASSERT_EQ(w.layers.size(), m.layer.size());
  for (size_t i = 0; i < m.layer.size(); ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const LayerWeights& a = w.layers[i];
    const TinyModel::Layer& b = m.layer[i];
    EXPECT_EQ(Decode(a.attn_norm), b.attn_norm);
    EXPECT_EQ(Decode(a.wq), b.wq);
    EXPECT_EQ(Decode(a.wk), b.wk);
    EXPECT_EQ(Decode(a.wv), b.wv);
    EXPECT_EQ(Decode(a.wo), b.wo);
    EXPECT_EQ(Decode(a.ffn_norm), b.ffn_norm);
    EXPECT_EQ(Decode(a.w_gate), b.w_gate);
    EXPECT_EQ(Decode(a.w_up), b.w_up);
    EXPECT_EQ(Decode(a.w_down), b.w_down);
  }
}

// Where ../shared/data lives for tests on real files (empty if absent).
inline std::string SharedData(const std::string& rel) {
  const std::string dir = std::string(STOCHA_SHARED_DIR) + "/data";
  return std::filesystem::exists(dir) ? dir + "/" + rel : "";
}

}  // namespace stocha::test

#endif  // STOCHA_ENGINE_FORMAT_TEST_WRITERS_H_
