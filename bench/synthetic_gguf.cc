// synthetic_gguf: writes a llama- or qwen2-architecture GGUF of a real shape with random
// weights, through the project's one GGUF writer (engine/format/gguf_writer.h), for the side by
// side benchmark against llama.cpp (bench/peer/). Tensors are streamed, never all held.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/synthetic_model.h"
#include "engine/format/gguf.h"
#include "engine/format/gguf_export.h"
#include "engine/format/gguf_writer.h"
#include "engine/model/dtype.h"
#include "engine/model/quant_blocks.h"
#include "engine/tools/program_usage.h"

ABSL_FLAG(std::string, shape, "llama32_1b", "llama32_1b | qwen25_1_5b (written as qwen2)");
ABSL_FLAG(std::string, dtype, "BF16",
          "F16 | BF16 | Q8_0 | Q4_0 | Q4_K | Q5_K | Q6_K (matrices; norms are F32 as in real "
          "files)");
ABSL_FLAG(std::string, embd_dtype, "",
          "token_embd.weight's type (same choices; empty: --dtype), e.g. Q6_K beside Q4_K");
ABSL_FLAG(std::string, out, "", "Output .gguf path (required; several GiB)");
ABSL_FLAG(std::string, vocab_from, "",
          "GGUF whose tokenizer is copied (its first tokens); padded with unused tokens up to "
          "the shape's vocabulary (required; e.g. ../shared/data/stories260K/stories260K.gguf)");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the weights");

namespace stocha::bench {
namespace {

constexpr char kUsage[] = R"(Writes a synthetic llama or qwen2 GGUF of a real shape.

  synthetic_gguf --shape=llama32_1b|qwen25_1_5b --dtype=F16|BF16|Q8_0|Q4_0|Q4_K|Q5_K|Q6_K
                 [--embd_dtype=...] --out=F.gguf --vocab_from=stories260K.gguf

Block types quantize each row with QuantizeRow (engine/model/quant_blocks.h, after
ggml's reference quantizers).)";

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "synthetic_gguf: %s\n", message.c_str());
  std::exit(2);
}

// splitmix64 uniform in [-scale, scale]: deterministic per (seed, index).
float Uniform(uint64_t seed, uint64_t i, float scale) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + (i + 1) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (static_cast<float>(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * scale;
}

struct Planned {
  std::string name;
  std::vector<int64_t> shape;
  float scale;  // 0: ones, in F32 (a norm)
  DType dtype;  // of a matrix; F32 for a norm or a bias (as real files keep them)
};

template <typename T>
void Put(std::string& out, T value) {
  char bytes[sizeof value];
  std::memcpy(bytes, &value, sizeof value);
  out.append(bytes, sizeof value);
}

// The dtype named by --dtype / --embd_dtype.
DType ParseDType(const std::string& name) {
  for (DType dt : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K,
                   DType::kQ5_K, DType::kQ6_K}) {
    if (name == DTypeName(dt)) return dt;
  }
  Fail("--dtype / --embd_dtype must be F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K, not '" + name +
       "'");
}

// Streams one tensor's bytes in chunks of whole rows (the 1B shape's embedding alone is
// 0.5 GB in BF16); a block-typed row is quantized as a whole.
absl::Status WriteTensor(const Planned& t, uint64_t seed, GgufWriter& w) {
  const DType dt = t.scale == 0 ? DType::kF32 : t.dtype;
  const int64_t cols = t.shape.back();
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  std::string chunk;
  const int64_t rows_per_chunk = std::max<int64_t>(1, (1 << 22) / cols);
  const size_t row_bytes = DTypeBytes(dt, cols);
  for (int64_t r0 = 0; r0 < n / cols; r0 += rows_per_chunk) {
    chunk.clear();
    const int64_t r1 = std::min(n / cols, r0 + rows_per_chunk);
    if (IsQuantized(dt)) {  // the K quantizers search per sub-block: rows in parallel
      chunk.resize(static_cast<size_t>(r1 - r0) * row_bytes);
#pragma omp parallel
      {
        std::vector<float> x(static_cast<size_t>(cols));
#pragma omp for schedule(static)
        for (int64_t r = r0; r < r1; ++r) {
          for (int64_t c = 0; c < cols; ++c)
            x[c] = Uniform(seed, static_cast<uint64_t>(r * cols + c), t.scale);
          QuantizeRow(x.data(), cols, dt, chunk.data() + (r - r0) * row_bytes);
        }
      }
    } else {
      for (int64_t i = r0 * cols; i < r1 * cols; ++i) {
        const float v = t.scale == 0 ? 1.0f : Uniform(seed, static_cast<uint64_t>(i), t.scale);
        if (dt == DType::kF32) {
          Put(chunk, v);
        } else {
          Put(chunk, dt == DType::kF16 ? F32ToF16(v) : F32ToBF16(v));
        }
      }
    }
    if (auto st = w.Append(chunk.data(), chunk.size()); !st.ok()) return st;
  }
  return absl::OkStatus();
}

int Run() {
  const std::string shape_name = absl::GetFlag(FLAGS_shape), dtype = absl::GetFlag(FLAGS_dtype);
  const std::string path = absl::GetFlag(FLAGS_out);
  if (path.empty()) Fail("--out is required");
  Shape s;
  float rope_base = 0;
  std::string arch = "llama";
  if (shape_name == "llama32_1b") {
    s = Llama32_1B();
    rope_base = 500000;
  } else if (shape_name == "qwen25_1_5b") {
    s = Qwen25_1_5B();
    rope_base = 1000000;
    arch = "qwen2";
  } else {
    Fail("--shape must be llama32_1b or qwen25_1_5b");
  }
  const DType type = ParseDType(dtype);
  const std::string embd_name = absl::GetFlag(FLAGS_embd_dtype);
  const DType embd_type = embd_name.empty() ? type : ParseDType(embd_name);
  auto vocab = ReadGgufVocabFile(absl::GetFlag(FLAGS_vocab_from));
  if (!vocab.ok()) Fail(std::string(vocab.status().message()));
  if (static_cast<int>(vocab->tokens.size()) > s.vocab) Fail("--vocab_from has too many tokens");
  std::vector<std::string> tokens = vocab->tokens;
  std::vector<float> scores = vocab->scores;
  std::vector<int32_t> types(vocab->token_types.begin(), vocab->token_types.end());
  scores.resize(tokens.size(), 0.0f);
  types.resize(tokens.size(), 1);
  // Unused (type 5) padding tokens: real ids for the random lm_head, never produced by text.
  for (int i = static_cast<int>(tokens.size()); i < s.vocab; ++i) {
    tokens.push_back("<unused" + std::to_string(i) + ">");
    scores.push_back(-1e9f);
    types.push_back(5);
  }

  GgufWriter b;
  b.String("general.architecture", arch)
      .String("general.name", "synthetic " + s.name + " " + dtype)
      .U32(arch + ".embedding_length", s.D)
      .U32(arch + ".feed_forward_length", s.F)
      .U32(arch + ".block_count", s.layers)
      .U32(arch + ".attention.head_count", s.heads)
      .U32(arch + ".attention.head_count_kv", s.kv_heads)
      .U32(arch + ".attention.key_length", s.head_dim)
      .U32(arch + ".attention.value_length", s.head_dim)
      .U32(arch + ".context_length", 4096)
      .U32(arch + ".rope.dimension_count", s.head_dim)
      .F32(arch + ".rope.freq_base", rope_base)
      .F32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f)
      .U32(arch + ".vocab_size", s.vocab)
      .String("tokenizer.ggml.model", "llama")
      .Strings("tokenizer.ggml.tokens", tokens)
      .F32s("tokenizer.ggml.scores", scores)
      .I32s("tokenizer.ggml.token_type", types)
      .U32("tokenizer.ggml.bos_token_id", vocab->bos_id >= 0 ? vocab->bos_id : 1)
      .U32("tokenizer.ggml.eos_token_id", vocab->eos_id >= 0 ? vocab->eos_id : 2);

  // The scales of bench/synthetic_model.cc: unit-variance activations through the layers.
  const int64_t D = s.D, F = s.F, q = int64_t{s.heads} * s.head_dim;
  const int64_t kv = int64_t{s.kv_heads} * s.head_dim;
  const float sd = std::sqrt(3.0f / D);
  // A small embedding (as trained models have): with the tied classifier, a unit-scale one
  // would make every greedy step repeat its input token.
  std::vector<Planned> plan = {{"token_embd.weight", {s.vocab, D}, 0.02f, embd_type}};
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    plan.push_back({p + "attn_norm.weight", {D}, 0, DType::kF32});
    plan.push_back({p + "attn_q.weight", {q, D}, sd, type});
    plan.push_back({p + "attn_k.weight", {kv, D}, sd, type});
    plan.push_back({p + "attn_v.weight", {kv, D}, sd, type});
    if (arch == "qwen2") {  // Qwen2's q/k/v biases (llama.cpp requires them for qwen2)
      plan.push_back({p + "attn_q.bias", {q}, 0.1f, DType::kF32});
      plan.push_back({p + "attn_k.bias", {kv}, 0.1f, DType::kF32});
      plan.push_back({p + "attn_v.bias", {kv}, 0.1f, DType::kF32});
    }
    plan.push_back({p + "attn_output.weight", {D, q}, std::sqrt(3.0f / q), type});
    plan.push_back({p + "ffn_norm.weight", {D}, 0, DType::kF32});
    plan.push_back({p + "ffn_gate.weight", {F, D}, sd, type});
    plan.push_back({p + "ffn_up.weight", {F, D}, sd, type});
    plan.push_back({p + "ffn_down.weight", {D, F}, std::sqrt(3.0f / F), type});
  }
  plan.push_back({"output_norm.weight", {D}, 0, DType::kF32});  // tied: no output.weight
  for (const Planned& t : plan) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    const DType dt = t.scale == 0 ? DType::kF32 : t.dtype;
    if (t.shape.back() % DTypeBlockSize(dt) != 0) {
      Fail(t.name + ": rows of " + std::to_string(t.shape.back()) + " elements are not a " +
           "multiple of " + std::string(DTypeName(dt)) + "'s block size " +
           std::to_string(DTypeBlockSize(dt)));
    }
    b.AddTensor(t.name, *GgmlTypeOf(dt), t.shape, DTypeBytes(dt, n));
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  absl::Status st = b.Begin(&out);
  uint64_t seed = absl::GetFlag(FLAGS_seed) * 1000;
  for (const Planned& t : plan) {
    if (st.ok()) st = WriteTensor(t, ++seed, b);
  }
  if (st.ok()) st = b.Finish();
  out.close();
  if (!st.ok() || !out) Fail("writing " + path + " failed: " + std::string(st.message()));
  std::printf("wrote %s: %s shape, %s, %.2f GB of tensors\n", path.c_str(), s.name.c_str(),
              dtype.c_str(), static_cast<double>(b.data_bytes()) / 1e9);
  return 0;
}

}  // namespace
}  // namespace stocha::bench

int main(int argc, char** argv) {
  stocha::SetProgramUsage(stocha::bench::kUsage, "bench/synthetic_gguf.cc");
  absl::ParseCommandLine(argc, argv);
  return stocha::bench::Run();
}
