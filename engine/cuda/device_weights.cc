// Uploads a Model's weights to the GPU (stored type kept; quantized dequantized to F32).
#include "engine/cuda/device_weights.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/model/quant_blocks.h"
#include "engine/step/rope.h"

namespace stocha::cuda {
namespace {

// The bytes one matrix takes on the device and its type there.
struct HostMatrix {
  std::vector<uint8_t> bytes;
  DType dtype = DType::kF32;
  int64_t rows = 0, cols = 0;
};

// `t` as the device holds it: its own bytes when 32/16-bit, else dequantized to F32.
HostMatrix Prepare(const Tensor& t) {
  HostMatrix m;
  m.rows = t.rows();
  m.cols = t.cols();
  if (!IsQuantized(t.dtype)) {
    m.dtype = t.dtype;
    m.bytes.resize(t.nbytes());
    std::memcpy(m.bytes.data(), t.data, t.nbytes());
    return m;
  }
  m.dtype = DType::kF32;
  m.bytes.resize(static_cast<size_t>(m.rows * m.cols) * sizeof(float));
  const size_t row_bytes = DTypeBytes(t.dtype, m.cols);
  for (int64_t r = 0; r < m.rows; ++r) {
    DequantizeRow(static_cast<const uint8_t*>(t.data) + r * row_bytes, t.dtype, m.cols,
                  reinterpret_cast<float*>(m.bytes.data()) + r * m.cols);
  }
  return m;
}

// [rows][cols] -> [cols][rows], element by element in the device type.
HostMatrix Transpose(const HostMatrix& m) {
  HostMatrix t;
  t.dtype = m.dtype;
  t.rows = m.cols;
  t.cols = m.rows;
  const size_t e = DTypeSize(m.dtype);
  t.bytes.resize(m.bytes.size());
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t c = 0; c < m.cols; ++c) {
      std::memcpy(&t.bytes[(c * m.rows + r) * e], &m.bytes[(r * m.cols + c) * e], e);
    }
  }
  return t;
}

}  // namespace

absl::StatusOr<DeviceWeights> DeviceWeights::Upload(const Model& model) {
  DeviceWeights w;
  auto upload = [&w](const void* data, int64_t bytes,
                     const std::string& name) -> absl::StatusOr<void*> {
    absl::StatusOr<DeviceBuffer> b = DeviceBuffer::Allocate(bytes);
    if (!b.ok()) {
      return absl::Status(b.status().code(), absl::StrCat("uploading '", name,
                                                          "' to the GPU: ", b.status().message()));
    }
    if (absl::Status s = b->CopyFromHost(data, bytes); !s.ok()) return s;
    void* p = b->data();
    w.bytes_ += bytes;
    w.buffers_.push_back(std::move(*b));
    return p;
  };
  auto matrix = [&](const Tensor& t, bool transpose) -> absl::StatusOr<DeviceMatrix> {
    if (!t.present()) return DeviceMatrix{};
    HostMatrix m = Prepare(t);
    if (transpose) m = Transpose(m);
    absl::StatusOr<void*> p = upload(m.bytes.data(), static_cast<int64_t>(m.bytes.size()), t.name);
    if (!p.ok()) return p.status();
    return DeviceMatrix{*p, m.dtype, m.rows, m.cols};
  };
  auto vector = [&](const Tensor& t) -> absl::StatusOr<const float*> {
    if (!t.present()) return nullptr;
    std::vector<float> f(static_cast<size_t>(t.numel()));
    RowToF32(t, 0, f.data());
    absl::StatusOr<void*> p =
        upload(f.data(), static_cast<int64_t>(f.size() * sizeof(float)), t.name);
    if (!p.ok()) return p.status();
    return static_cast<const float*>(*p);
  };
#define STOCHA_UPLOAD(lhs, expr)    \
  {                                 \
    auto v = (expr);                \
    if (!v.ok()) return v.status(); \
    (lhs) = *v;                     \
  }
  const ModelWeights& mw = model.weights();
  for (const LayerWeights& l : mw.layers) {
    DeviceLayer d;
    STOCHA_UPLOAD(d.wq, matrix(l.wq, false));
    STOCHA_UPLOAD(d.wk, matrix(l.wk, false));
    STOCHA_UPLOAD(d.wv, matrix(l.wv, false));
    STOCHA_UPLOAD(d.wo, matrix(l.wo, false));
    STOCHA_UPLOAD(d.w_gate, matrix(l.w_gate, false));
    STOCHA_UPLOAD(d.w_up, matrix(l.w_up, false));
    STOCHA_UPLOAD(d.w_down_t, matrix(l.w_down, true));
    STOCHA_UPLOAD(d.attn_norm, vector(l.attn_norm));
    STOCHA_UPLOAD(d.ffn_norm, vector(l.ffn_norm));
    STOCHA_UPLOAD(d.bq, vector(l.bq));
    STOCHA_UPLOAD(d.bk, vector(l.bk));
    STOCHA_UPLOAD(d.bv, vector(l.bv));
    STOCHA_UPLOAD(d.bo, vector(l.bo));
    w.layers_.push_back(d);
  }
  STOCHA_UPLOAD(w.embed_, matrix(mw.embed, false));
  if (mw.lm_head.data == mw.embed.data) {
    w.lm_head_ = w.embed_;
  } else {
    STOCHA_UPLOAD(w.lm_head_, matrix(mw.lm_head, false));
  }
  STOCHA_UPLOAD(w.final_norm_, vector(mw.final_norm));
  const Rope rope(model.config());
  Tensor freq{"rope inv_freq",
              DType::kF32,
              {static_cast<int64_t>(rope.inv_freq().size())},
              rope.inv_freq().data()};
  STOCHA_UPLOAD(w.inv_freq_, vector(freq));
#undef STOCHA_UPLOAD
  return w;
}

}  // namespace stocha::cuda
