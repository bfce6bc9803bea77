// WriteModelGguf and VocabForExport: a loaded Model back out as a (quantized) llama GGUF.
#include "engine/format/gguf_export.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/activation.h"
#include "engine/format/gguf.h"
#include "engine/format/gguf_writer.h"
#include "engine/format/mapped_file.h"
#include "engine/format/status_macros.h"
#include "engine/model/quant_blocks.h"
#include "engine/model/weight_types.h"
#include "engine/tokenizers/sentencepiece_model_proto.h"

namespace stocha {
namespace {

namespace fs = std::filesystem;

bool FileIsGguf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, sizeof magic);
  return in && std::string(magic, 4) == "GGUF";
}

absl::StatusOr<GgufVocab> VocabFromSentencePiece(const std::string& path) {
  STOCHA_ASSIGN_OR_RETURN(tokenizers::SentencePieceModel spm,
                          tokenizers::ReadSentencePieceModel(path));
  if (spm.trainer_spec.model_type != tokenizers::SentencePieceModel::kBpe) {
    return absl::UnimplementedError(
        absl::StrCat(path, ": a ", tokenizers::ModelTypeName(spm.trainer_spec.model_type),
                     " SentencePiece model cannot be written as a GGUF 'llama' vocabulary "
                     "(only BPE models are)"));
  }
  GgufVocab v;
  v.model = "llama";
  for (const auto& p : spm.pieces) {
    v.tokens.push_back(p.piece);
    v.scores.push_back(p.score);
    v.token_types.push_back(p.type);  // SentencePiece's piece types are GGUF's token types
  }
  v.bos_id = spm.trainer_spec.bos_id;
  v.eos_id = spm.trainer_spec.eos_id;
  v.unk_id = spm.trainer_spec.unk_id;
  v.pad_id = spm.trainer_spec.pad_id;
  v.add_bos = true;
  v.add_space_prefix = spm.normalizer_spec.add_dummy_prefix;
  return v;
}

absl::StatusOr<std::optional<GgufVocab>> VocabFromTokenizerFile(const std::string& path) {
  if (FileIsGguf(path)) {
    STOCHA_ASSIGN_OR_RETURN(GgufVocab v, ReadGgufVocabFile(path));
    return v;
  }
  if (absl::EndsWith(path, ".model")) {
    STOCHA_ASSIGN_OR_RETURN(GgufVocab v, VocabFromSentencePiece(path));
    return v;
  }
  return absl::UnimplementedError(
      absl::StrCat(path,
                   ": this tokenizer format cannot be written into a GGUF yet (a GGUF or a "
                   "SentencePiece tokenizer.model can); pass --tokenizer with one of those"));
}

// Where each Model tensor goes in the file, in llama.cpp's order and names
// (src/llama-arch.cpp, LLM_TENSOR_NAMES for LLM_ARCH_LLAMA).
struct Planned {
  std::string name;
  const Tensor* tensor;
  DType type;
  bool fallback;
  bool permute;  // Q/K rows from HF's rotate-half order to GGUF's interleaved order
};

std::vector<Planned> Plan(const Model& model, DType target) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  const bool half = c.rope_style == RopeStyle::kHalf;
  std::vector<Planned> plan;
  auto add = [&](std::string name, const Tensor& t, bool transposed_too, bool permute) {
    if (!t.present()) return;
    const DType type = StorageTypeFor(target, t.shape, transposed_too);
    const bool fallback = t.shape.size() == 2 && type != target;
    plan.push_back({std::move(name), &t, type, fallback, permute && half});
  };
  add("token_embd.weight", w.embed, false, false);
  add("output_norm.weight", w.final_norm, false, false);
  if (!c.tie_word_embeddings) add("output.weight", w.lm_head, false, false);
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = absl::StrCat("blk.", i, ".");
    add(p + "attn_norm.weight", l.attn_norm, false, false);
    add(p + "attn_q.weight", l.wq, false, true);
    add(p + "attn_k.weight", l.wk, false, true);
    add(p + "attn_v.weight", l.wv, false, false);
    add(p + "attn_output.weight", l.wo, false, false);
    add(p + "attn_q.bias", l.bq, false, true);
    add(p + "attn_k.bias", l.bk, false, true);
    add(p + "attn_v.bias", l.bv, false, false);
    add(p + "ffn_norm.weight", l.ffn_norm, false, false);
    add(p + "ffn_gate.weight", l.w_gate, false, false);
    add(p + "ffn_up.weight", l.w_up, false, false);
    add(p + "ffn_down.weight", l.w_down, true, false);
  }
  return plan;
}

absl::Status CheckExportable(const Model& model) {
  const ModelConfig& c = model.config();
  if (c.rope_scaling.llama3) {
    return absl::UnimplementedError(absl::StrCat(
        model.source(), ": llama3 RoPE scaling (a rope_freqs tensor in GGUF) is not written yet"));
  }
  for (const LayerWeights& l : model.weights().layers) {
    if (l.bo.present()) {
      return absl::UnimplementedError(
          absl::StrCat(model.source(),
                       ": an o_proj bias (attention_bias on Llama) has no GGUF llama tensor "
                       "the loader reads"));
    }
  }
  return absl::OkStatus();
}

void WriteMetadata(const Model& model, const std::optional<GgufVocab>& vocab, GgufWriter& w) {
  const ModelConfig& c = model.config();
  const std::string a = "llama";
  w.String("general.architecture", a)
      .String("general.name", fs::path(model.source()).filename().string())
      .U32(a + ".embedding_length", c.hidden_size)
      .U32(a + ".feed_forward_length", c.intermediate_size)
      .U32(a + ".block_count", c.num_layers)
      .U32(a + ".attention.head_count", c.num_heads)
      .U32(a + ".attention.head_count_kv", c.num_kv_heads)
      .U32(a + ".attention.key_length", c.head_dim)
      .U32(a + ".attention.value_length", c.head_dim)
      .U32(a + ".context_length", c.max_position_embeddings)
      .U32(a + ".rope.dimension_count", c.head_dim)
      .F32(a + ".rope.freq_base", c.rope_theta)
      .F32(a + ".attention.layer_norm_rms_epsilon", c.rms_norm_eps)
      .U32(a + ".vocab_size", c.vocab_size)
      .String("stocha.hidden_act", ActivationKindName(c.hidden_act))
      .Bool("stocha.mlp_gated", c.mlp_gated)
      .String("stocha.recipe", c.stocha.recipe)
      .F32("stocha.p", c.stocha.p)
      .F32("stocha.alpha", c.stocha.alpha);
  if (c.stocha.default_activation.has_value()) {
    w.String("stocha.default_activation", ActivationToString(*c.stocha.default_activation));
  }
  // The config's BOS/EOS: the loader takes them from these keys whether or not a
  // vocabulary follows. GGUF has one EOS; a second (e.g. Llama 3's eot) is not kept.
  if (c.bos_token_id >= 0) w.U32("tokenizer.ggml.bos_token_id", c.bos_token_id);
  if (!c.eos_token_ids.empty()) w.U32("tokenizer.ggml.eos_token_id", c.eos_token_ids[0]);
  if (!vocab.has_value()) return;
  const GgufVocab& v = *vocab;
  w.String("tokenizer.ggml.model", v.model);
  if (!v.pre.empty()) w.String("tokenizer.ggml.pre", v.pre);
  w.Strings("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) w.F32s("tokenizer.ggml.scores", v.scores);
  if (!v.token_types.empty()) {
    w.I32s("tokenizer.ggml.token_type",
           std::vector<int32_t>(v.token_types.begin(), v.token_types.end()));
  }
  if (!v.merges.empty()) w.Strings("tokenizer.ggml.merges", v.merges);
  if (v.unk_id >= 0) w.U32("tokenizer.ggml.unknown_token_id", v.unk_id);
  if (v.pad_id >= 0) w.U32("tokenizer.ggml.padding_token_id", v.pad_id);
  w.Bool("tokenizer.ggml.add_bos_token", v.add_bos);
  w.Bool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
}

// The source row that output row `r` of a Q/K matrix (or bias) comes from: within each
// head, GGUF row 2i is HF row i and GGUF row 2i+1 is HF row i + head_dim/2.
int64_t SourceRow(int64_t r, int head_dim, bool permute) {
  if (!permute) return r;
  const int64_t head = r / head_dim, j = r % head_dim, half = head_dim / 2;
  return head * head_dim + (j % 2 == 0 ? j / 2 : j / 2 + half);
}

void Encode(const float* x, int64_t n, DType to, std::string& out) {
  const size_t at = out.size();
  out.resize(at + DTypeBytes(to, n));
  char* dst = out.data() + at;
  if (IsQuantized(to)) {
    QuantizeRow(x, n, to, dst);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (to == DType::kF32) {
      std::memcpy(dst + 4 * i, &x[i], 4);
    } else {
      const uint16_t h = to == DType::kF16 ? F32ToF16(x[i]) : F32ToBF16(x[i]);
      std::memcpy(dst + 2 * i, &h, 2);
    }
  }
}

// Streams one tensor: each output row decoded to F32 (exact) and encoded as `p.type`;
// about 4 MiB per Append.
absl::Status WriteTensor(const Planned& p, int head_dim, GgufWriter& w) {
  const Tensor& t = *p.tensor;
  const int64_t rows = t.shape.size() == 2 ? t.shape[0] : t.numel();
  const int64_t cols = t.shape.size() == 2 ? t.shape[1] : 1;
  const size_t in_row = DTypeBytes(t.dtype, cols);
  const auto* in = static_cast<const uint8_t*>(t.data);
  std::vector<float> row(static_cast<size_t>(cols));
  std::string chunk;
  if (t.shape.size() != 2) {  // 1-D: one "row" of numel elements, permuted if a Q/K bias
    std::vector<float> all(static_cast<size_t>(rows)), out(static_cast<size_t>(rows));
    DequantizeRow(in, t.dtype, rows, all.data());
    for (int64_t r = 0; r < rows; ++r) out[r] = all[SourceRow(r, head_dim, p.permute)];
    Encode(out.data(), rows, p.type, chunk);
    return w.Append(chunk.data(), chunk.size());
  }
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(in + SourceRow(r, head_dim, p.permute) * in_row, t.dtype, cols, row.data());
    Encode(row.data(), cols, p.type, chunk);
    if (chunk.size() >= (4u << 20) || r + 1 == rows) {
      if (auto s = w.Append(chunk.data(), chunk.size()); !s.ok()) return s;
      chunk.clear();
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<uint32_t> GgmlTypeOf(DType t) {
  for (uint32_t i = 0; i < 64; ++i) {
    if (GgmlTypeName(i) == DTypeName(t)) return i;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<GgufVocab>> VocabForExport(const std::string& model_path,
                                                        const std::string& tokenizer_path) {
  if (!tokenizer_path.empty()) return VocabFromTokenizerFile(tokenizer_path);
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) {
    const fs::path dir(model_path);
    if (fs::exists(dir / "tokenizer.model", ec)) {
      return VocabFromTokenizerFile((dir / "tokenizer.model").string());
    }
    if (fs::exists(dir / "tokenizer.json", ec)) {
      return absl::UnimplementedError(
          absl::StrCat((dir / "tokenizer.json").string(),
                       ": Hugging Face tokenizer.json vocabularies are not written into GGUF yet"));
    }
    return std::optional<GgufVocab>();
  }
  if (FileIsGguf(model_path)) {
    STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(model_path));
    STOCHA_ASSIGN_OR_RETURN(GgufFile gguf, ParseGguf(file->bytes(), model_path));
    if (gguf.Find("tokenizer.ggml.tokens") == nullptr) return std::optional<GgufVocab>();
    STOCHA_ASSIGN_OR_RETURN(GgufVocab v, ReadGgufVocab(gguf, model_path));
    return v;
  }
  return std::optional<GgufVocab>();  // a llama2.c checkpoint without --tokenizer
}

absl::StatusOr<std::vector<ExportedTensor>> WriteModelGguf(const Model& model,
                                                           const std::optional<GgufVocab>& vocab,
                                                           DType target, const std::string& path) {
  STOCHA_RETURN_IF_ERROR(CheckExportable(model));
  GgufWriter w;
  WriteMetadata(model, vocab, w);
  const std::vector<Planned> plan = Plan(model, target);
  std::vector<ExportedTensor> report;
  for (const Planned& p : plan) {
    const std::optional<uint32_t> ggml = GgmlTypeOf(p.type);
    if (!ggml.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("type ", std::string(DTypeName(p.type)), " has no GGUF type id"));
    }
    w.AddTensor(p.name, *ggml, p.tensor->shape, DTypeBytes(p.type, p.tensor->numel()));
    report.push_back({p.name, p.type, p.fallback});
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open for writing"));
  absl::Status s = w.Begin(&out);
  for (const Planned& p : plan) {
    if (s.ok()) s = WriteTensor(p, model.config().head_dim, w);
  }
  if (s.ok()) s = w.Finish();
  out.close();
  if (s.ok() && !out) s = absl::InternalError("the output stream failed");
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  return report;
}

}  // namespace stocha
