// llama2.c checkpoints: header checks, 64-bit layout arithmetic, per-layer tensor views.
#include "engine/format/llama2c_loader.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/format/byte_reader.h"
#include "engine/format/mapped_file.h"
#include "engine/format/status_macros.h"
#include "engine/format/tokenizer_file.h"

namespace stocha {
namespace {

constexpr size_t kHeaderBytes = 7 * sizeof(int32_t);
constexpr uint32_t kVersionedMagic = 0x616b3432;  // "ak42": export.py --version 1/2

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

absl::Status Bad(absl::string_view source, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", message));
}

absl::Status CheckHeader(const Header& h, absl::string_view source) {
  const std::pair<const char*, int64_t> fields[] = {{"dim", h.dim},
                                                    {"hidden_dim", h.hidden_dim},
                                                    {"n_layers", h.n_layers},
                                                    {"n_heads", h.n_heads},
                                                    {"n_kv_heads", h.n_kv_heads},
                                                    {"vocab_size", h.vocab_size == 0 ? 0 : 1},
                                                    {"seq_len", h.seq_len}};
  for (const auto& [name, value] : fields) {
    if (value <= 0) {
      return Bad(source, absl::StrCat("header field ", name, " (", value, ") must be > 0"));
    }
  }
  if (h.dim % h.n_heads != 0) {
    return Bad(source, absl::StrCat("header field n_heads (", h.n_heads, ") must divide dim (",
                                    h.dim, ")"));
  }
  if (h.n_heads % h.n_kv_heads != 0) {
    return Bad(source, absl::StrCat("header field n_kv_heads (", h.n_kv_heads,
                                    ") must divide n_heads (", h.n_heads, ")"));
  }
  return absl::OkStatus();
}

// The arrays in file order, in floats. Every product is < 2^31 * 2^31 * 2^31, so it is
// computed with overflow checks in 64 bits.
struct Segment {
  const char* name;
  uint64_t rows_per_layer;  // 0 for a non-layered array
  uint64_t elems;           // total floats
};

class Layout {
 public:
  Layout(const Header& h, bool shared) {
    const uint64_t d = h.dim, f = h.hidden_dim, l = h.n_layers, v = VocabAbs(h);
    const uint64_t hs = d / static_cast<uint64_t>(h.n_heads);
    const uint64_t kv = hs * static_cast<uint64_t>(h.n_kv_heads);
    Add("token_embedding_table", 0, v, d);
    Add("rms_att_weight", l, 1, d);
    Add("wq", l, d, d);
    Add("wk", l, kv, d);
    Add("wv", l, kv, d);
    Add("wo", l, d, d);
    Add("rms_ffn_weight", l, 1, d);
    Add("w1", l, f, d);
    Add("w2", l, d, f);
    Add("w3", l, f, d);
    Add("rms_final_weight", 0, 1, d);
    Add("freq_cis", 0, 2 * static_cast<uint64_t>(h.seq_len), hs / 2);  // legacy, skipped
    if (!shared) Add("wcls", 0, v, d);
  }
  static uint64_t VocabAbs(const Header& h) {
    return h.vocab_size < 0 ? static_cast<uint64_t>(-static_cast<int64_t>(h.vocab_size))
                            : static_cast<uint64_t>(h.vocab_size);
  }
  bool overflow() const { return overflow_; }
  uint64_t total_bytes() const { return kHeaderBytes + total_floats_ * sizeof(float); }
  // Offset in floats (from the end of the header) of array `name`.
  uint64_t offset(absl::string_view name) const {
    for (const auto& [n, off] : offsets_) {
      if (n == name) return off;
    }
    return 0;
  }

 private:
  void Add(const char* name, uint64_t layers, uint64_t rows, uint64_t cols) {
    uint64_t n = 0;
    if (!CheckedMul(rows, cols, &n) || (layers != 0 && !CheckedMul(n, layers, &n))) {
      overflow_ = true;
    }
    offsets_.emplace_back(name, total_floats_);
    if (!CheckedAdd(total_floats_, n, &total_floats_) || total_floats_ > (UINT64_MAX >> 3)) {
      overflow_ = true;
    }
  }
  std::vector<std::pair<absl::string_view, uint64_t>> offsets_;
  uint64_t total_floats_ = 0;
  bool overflow_ = false;
};

ModelConfig MakeConfig(const Header& h) {
  ModelConfig c;
  c.hidden_size = h.dim;
  c.intermediate_size = h.hidden_dim;
  c.num_layers = h.n_layers;
  c.num_heads = h.n_heads;
  c.num_kv_heads = h.n_kv_heads;
  c.head_dim = h.dim / h.n_heads;
  c.vocab_size = static_cast<int>(Layout::VocabAbs(h));  // < 2^31 since vocab_size > INT_MIN
  c.max_position_embeddings = h.seq_len;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.rope_style = RopeStyle::kInterleaved;
  c.tie_word_embeddings = h.vocab_size > 0;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

// Views `rows` x `cols` floats at float offset `off` (+ layer * rows * cols).
Tensor View(const uint8_t* base, const Layout& layout, const char* array, int layer, int64_t rows,
            int64_t cols) {
  const uint64_t index = layer < 0 ? 0 : static_cast<uint64_t>(layer);
  const uint64_t off = layout.offset(array) + index * static_cast<uint64_t>(rows * cols);
  Tensor t;
  t.name = layer < 0 ? std::string(array) : absl::StrCat(array, "[", layer, "]");
  t.dtype = DType::kF32;
  t.shape = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
  t.data = base + off * sizeof(float);
  return t;
}

ModelWeights MakeWeights(const uint8_t* base, const Layout& layout, const ModelConfig& c) {
  const int64_t d = c.hidden_size, f = c.intermediate_size, v = c.vocab_size;
  const int64_t kv = int64_t{c.num_kv_heads} * c.head_dim;
  ModelWeights w;
  w.embed = View(base, layout, "token_embedding_table", -1, v, d);
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights l;
    l.attn_norm = View(base, layout, "rms_att_weight", i, 1, d);
    l.wq = View(base, layout, "wq", i, d, d);
    l.wk = View(base, layout, "wk", i, kv, d);
    l.wv = View(base, layout, "wv", i, kv, d);
    l.wo = View(base, layout, "wo", i, d, d);
    l.ffn_norm = View(base, layout, "rms_ffn_weight", i, 1, d);
    l.w_gate = View(base, layout, "w1", i, f, d);
    l.w_down = View(base, layout, "w2", i, d, f);
    l.w_up = View(base, layout, "w3", i, f, d);
    w.layers.push_back(std::move(l));
  }
  w.final_norm = View(base, layout, "rms_final_weight", -1, 1, d);
  w.lm_head = c.tie_word_embeddings ? w.embed : View(base, layout, "wcls", -1, v, d);
  return w;
}

absl::StatusOr<Header> ReadHeader(absl::Span<const uint8_t> bytes, absl::string_view source) {
  uint32_t magic = 0;
  if (bytes.size() >= sizeof magic) std::memcpy(&magic, bytes.data(), sizeof magic);
  if (magic == kVersionedMagic) {
    return Bad(source,
               "llama2.c version 1/2 files (magic 'ak42') are not supported; "
               "export with --version 0");
  }
  ByteReader r(bytes, source);
  Header h;
  STOCHA_RETURN_IF_ERROR(r.Read(&h, "the llama2.c header (7 int32)"));
  if (h.vocab_size == INT32_MIN) return Bad(source, "header field vocab_size is out of range");
  STOCHA_RETURN_IF_ERROR(CheckHeader(h, source));
  return h;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Model>> LoadLlama2cFromBytes(
    absl::Span<const uint8_t> bytes, const std::string& source,
    std::unique_ptr<WeightStorage> keepalive, const LoadOptions& options) {
  STOCHA_ASSIGN_OR_RETURN(Header h, ReadHeader(bytes, source));
  const Layout layout(h, /*shared=*/h.vocab_size > 0);
  if (layout.overflow() || layout.total_bytes() != bytes.size()) {
    return Bad(source,
               absl::StrCat("file has ", bytes.size(), " bytes, but its header (dim ", h.dim,
                            ", hidden_dim ", h.hidden_dim, ", n_layers ", h.n_layers,
                            ", vocab_size ", h.vocab_size, ", seq_len ", h.seq_len, ") needs ",
                            layout.overflow() ? std::string("more than 2^64")
                                              : absl::StrCat(layout.total_bytes()),
                            " bytes"));
  }
  ModelConfig config = MakeConfig(h);
  ModelWeights weights = MakeWeights(bytes.data() + kHeaderBytes, layout, config);
  std::unique_ptr<Tokenizer> tokenizer;
  if (!options.tokenizer_path.empty()) {
    STOCHA_ASSIGN_OR_RETURN(tokenizer,
                            LoadTokenizerFile(options.tokenizer_path, config.vocab_size));
  }
  std::vector<std::unique_ptr<WeightStorage>> storage;
  if (keepalive != nullptr) storage.push_back(std::move(keepalive));
  return Model::Assemble(source, std::move(config), std::move(weights), std::move(storage),
                         std::move(tokenizer), options);
}

absl::StatusOr<std::shared_ptr<const Model>> LoadLlama2cModel(const std::string& path,
                                                              const LoadOptions& options) {
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  const absl::Span<const uint8_t> bytes = file->bytes();
  return LoadLlama2cFromBytes(bytes, path, std::move(file), options);
}

}  // namespace stocha
