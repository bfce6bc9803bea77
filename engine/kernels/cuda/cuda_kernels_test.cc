// The CUDA kernels against the CPU kernels and double-precision sums on the same inputs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/activation.h"
#include "engine/kernels/cpu/activation_kernel.h"
#include "engine/kernels/cpu/ffn_kernels.h"
#include "engine/kernels/cpu/norm.h"
#include "engine/kernels/cuda/attention.h"
#include "engine/kernels/cuda/device.h"
#include "engine/kernels/cuda/ffn_kernels.h"
#include "engine/kernels/cuda/gemm.h"
#include "engine/kernels/cuda/norm.h"
#include "engine/kernels/cuda/rope.h"
#include "engine/model/dtype.h"
#include "engine/step/rope.h"
#include "gtest/gtest.h"

namespace stocha::cuda {
namespace {

// Every test needs a GPU; where there is none it says why and skips (the only skip
// these tests have).
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (DeviceCount(&why) == 0) GTEST_SKIP() << "no GPU: " << why;
  }
};

template <typename T>
DeviceBuffer Upload(const std::vector<T>& host) {
  absl::StatusOr<DeviceBuffer> b =
      DeviceBuffer::Allocate(static_cast<int64_t>(host.size() * sizeof(T)));
  EXPECT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->CopyFromHost(host.data(), b->bytes()).ok());
  return std::move(*b);
}

template <typename T>
std::vector<T> Download(const DeviceBuffer& b, size_t n) {
  std::vector<T> host(n);
  EXPECT_TRUE(Synchronize().ok());
  EXPECT_TRUE(b.CopyToHost(host.data(), static_cast<int64_t>(n * sizeof(T))).ok());
  return host;
}

std::vector<float> Random(size_t n, uint32_t seed, float zero_fraction = 0.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen) < zero_fraction ? 0.0f : normal(gen);
  return v;
}

// Weights of `dtype` as stored bytes, and the F32 values they hold exactly.
struct HostMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};
HostMatrix MakeMatrix(int64_t rows, int64_t cols, DType dtype, uint32_t seed) {
  HostMatrix m;
  m.values = Random(static_cast<size_t>(rows * cols), seed);
  m.bytes.resize(DTypeBytes(dtype, rows * cols));
  for (size_t i = 0; i < m.values.size(); ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(m.bytes.data() + 4 * i, &m.values[i], 4);
    } else {
      const uint16_t h = dtype == DType::kBF16 ? F32ToBF16(m.values[i]) : F32ToF16(m.values[i]);
      std::memcpy(m.bytes.data() + 2 * i, &h, 2);
      m.values[i] = dtype == DType::kBF16 ? BF16ToF32(h) : F16ToF32(h);
    }
  }
  return m;
}

// |got - want| within `rel` of the sum of the terms' magnitudes (a summation-order bound).
void ExpectClose(float got, double want, double magnitude, double rel, const std::string& where) {
  EXPECT_LE(std::fabs(got - want), rel * magnitude + 1e-30)
      << where << " got " << got << " want " << want;
}

struct DotsCase {
  DType dtype;
  int64_t n, k;
  int T;
};

TEST_F(CudaTest, RowDotsMatchDoubleSumsAndSparseEqualsDense) {
  const DotsCase cases[] = {{DType::kF32, 37, 72, 1},
                            {DType::kF16, 300, 512, 5},
                            {DType::kBF16, 129, 768, 16},
                            {DType::kBF16, 64, 100, 16},
                            {DType::kF32, 257, 256, 3}};
  for (const DotsCase& c : cases) {
    const std::string where = std::string(DTypeName(c.dtype)) + " n=" + std::to_string(c.n) +
                              " k=" + std::to_string(c.k) + " T=" + std::to_string(c.T);
    const HostMatrix w = MakeMatrix(c.n, c.k, c.dtype, 7);
    const std::vector<float> x = Random(static_cast<size_t>(c.T * c.k), 11);
    DeviceBuffer dw = Upload(w.bytes), dx = Upload(x);
    const DeviceMatrix m{dw.data(), c.dtype, c.n, c.k};
    DeviceBuffer dense = Upload(std::vector<float>(static_cast<size_t>(c.T * c.n), 0.0f));
    ASSERT_TRUE(RowDots(dx.as<float>(), c.T, m, nullptr, nullptr, 0, dense.as<float>(), c.n,
                        RowDotsMode::kStore)
                    .ok());
    const std::vector<float> y = Download<float>(dense, static_cast<size_t>(c.T * c.n));
    for (int t = 0; t < c.T; ++t) {
      for (int64_t r = 0; r < c.n; ++r) {
        double want = 0.0, mag = 0.0;
        for (int64_t k = 0; k < c.k; ++k) {
          const double p = static_cast<double>(x[t * c.k + k]) * w.values[r * c.k + k];
          want += p;
          mag += std::fabs(p);
        }
        ExpectClose(y[t * c.n + r], want, mag, 1e-6, where);
      }
    }
    // Every third row, the row count read on the device: the same bits as the dense call.
    std::vector<int32_t> rows;
    for (int64_t r = 1; r < c.n; r += 3) rows.push_back(static_cast<int32_t>(r));
    const std::vector<int32_t> count = {static_cast<int32_t>(rows.size())};
    DeviceBuffer drows = Upload(rows), dcount = Upload(count);
    DeviceBuffer sparse = Upload(std::vector<float>(static_cast<size_t>(c.T * c.n), -1.0f));
    ASSERT_TRUE(RowDots(dx.as<float>(), c.T, m, drows.as<int32_t>(), dcount.as<int32_t>(), c.n,
                        sparse.as<float>(), c.n, RowDotsMode::kStore)
                    .ok());
    const std::vector<float> ys = Download<float>(sparse, static_cast<size_t>(c.T * c.n));
    for (int t = 0; t < c.T; ++t) {
      for (int64_t r = 0; r < c.n; ++r) {
        if (r % 3 == 1) {
          EXPECT_EQ(ys[t * c.n + r], y[t * c.n + r]) << where << " row " << r;
        } else {
          EXPECT_EQ(ys[t * c.n + r], -1.0f) << where << " row " << r << " was not chosen";
        }
      }
    }
  }
}

TEST_F(CudaTest, RowDotsScaleOnlyNonZeroEntries) {
  const int T = 2;
  const int64_t n = 40, k = 64;
  const HostMatrix w = MakeMatrix(n, k, DType::kF32, 3);
  const std::vector<float> x = Random(T * k, 5);
  std::vector<float> y0 = Random(T * n, 9, 0.5f);
  DeviceBuffer dw = Upload(w.bytes), dx = Upload(x), dy = Upload(y0);
  const DeviceMatrix m{dw.data(), DType::kF32, n, k};
  ASSERT_TRUE(RowDots(dx.as<float>(), T, m, nullptr, nullptr, 0, dy.as<float>(), n,
                      RowDotsMode::kScaleNonZero)
                  .ok());
  DeviceBuffer dd = Upload(std::vector<float>(T * n, 0.0f));
  ASSERT_TRUE(
      RowDots(dx.as<float>(), T, m, nullptr, nullptr, 0, dd.as<float>(), n, RowDotsMode::kStore)
          .ok());
  const std::vector<float> y = Download<float>(dy, T * n), dots = Download<float>(dd, T * n);
  for (int i = 0; i < T * n; ++i) {
    if (y0[i] == 0.0f) {
      EXPECT_EQ(std::signbit(y[i]), false) << i;  // stays +0, as the CPU skips it
      EXPECT_EQ(y[i], 0.0f) << i;
    } else {
      EXPECT_EQ(y[i], y0[i] * dots[i]) << i;
    }
  }
}

// Argument checks run on the host before any launch: these need no GPU.
TEST(CudaKernelArgumentsTest, RefuseQuantizedWeightsAndOversizedBatchesByName) {
  const DeviceMatrix q8{nullptr, DType::kQ8_0, 32, 32};
  absl::Status s = RowDots(nullptr, 1, q8, nullptr, nullptr, 0, nullptr, 32, RowDotsMode::kStore);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Q8_0"), std::string::npos) << s;
  const DeviceMatrix q4k{nullptr, DType::kQ4_K, 32, 256};
  s = DownAxpy(nullptr, 1, 32, q4k, nullptr, nullptr, nullptr, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Q4_K"), std::string::npos) << s;
  const DeviceMatrix f32{nullptr, DType::kF32, 32, 32};
  s = RowDots(nullptr, kMaxDeviceBatch + 1, f32, nullptr, nullptr, 0, nullptr, 32,
              RowDotsMode::kStore);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = DownAxpy(nullptr, 0, 32, f32, nullptr, nullptr, nullptr, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = Attend(nullptr, 1, 8, 3, 64, nullptr, 1, nullptr, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("3 KV heads"), std::string::npos) << s;
  s = Attend(nullptr, 1, 8, 2, 512, nullptr, 1, nullptr, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

// The activations as cuBLAS multiplies them: rounded to a 16-bit weight type (gemm.h).
std::vector<float> RoundedLike(const std::vector<float>& x, DType dtype) {
  std::vector<float> r = x;
  if (dtype == DType::kBF16) {
    for (float& v : r) v = BF16ToF32(F32ToBF16(v));
  } else if (dtype == DType::kF16) {
    for (float& v : r) v = F16ToF32(F32ToF16(v));
  }
  return r;
}

struct GemmCase {
  DType dtype;
  int64_t n, k;  // W [n][k] (GemmXWt), or W_downᵀ [k][n] (GemmXW)
  int T;
  bool transposed;  // GemmXW over W_downᵀ, with a strided activation (lda = k + 3)
  bool tf32;
};

// The cuBLAS products against double sums, on odd shapes (k not a multiple of 8, n = 1,
// T = 1, 17, 100, 256). Two bounds, each a fraction of Σ|terms|:
// - against the sums of the activations cuBLAS multiplies (rounded to the 16-bit weight
//   type, exact for F32): 1e-5 for F32 SGEMM (F32 sums in cuBLAS's order); 5e-5 for
//   F16/BF16, whose products are exact but whose tensor-core F32 accumulation may truncate
//   when aligning addends; 2e-3 for TF32, whose operands keep 10 mantissa bits;
// - against the F32 activations (what the CPU and RowDots multiply): 2^-8 for BF16 weights
//   (the activation's rounding, 2^-9, and the sum's), 2^-10 for F16, as for F32 above.
TEST_F(CudaTest, GemmMatchesDoubleSumsForEachWeightType) {
  const GemmCase cases[] = {
      {DType::kF32, 37, 72, 17, false, false},    {DType::kF32, 1, 37, 100, false, false},
      {DType::kF32, 300, 1001, 256, true, false}, {DType::kF32, 129, 256, 100, false, true},
      {DType::kF16, 300, 100, 256, false, false}, {DType::kF16, 65, 100, 17, true, false},
      {DType::kBF16, 129, 37, 1, false, false},   {DType::kBF16, 64, 768, 100, false, false},
      {DType::kBF16, 1, 260, 17, true, false}};
  for (const GemmCase& c : cases) {
    const std::string where = std::string(DTypeName(c.dtype)) + (c.tf32 ? " tf32" : "") +
                              (c.transposed ? " GemmXW" : " GemmXWt") +
                              " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
                              " T=" + std::to_string(c.T);
    // GemmXWt: W [n][k]. GemmXW: W_downᵀ [k][n], element (f, d) = wT[f * n + d].
    const HostMatrix w =
        c.transposed ? MakeMatrix(c.k, c.n, c.dtype, 5) : MakeMatrix(c.n, c.k, c.dtype, 5);
    const int64_t ldx = c.transposed ? c.k + 3 : c.k;
    const int64_t ldy = c.transposed ? c.n : c.n + 2;
    const std::vector<float> x = Random(static_cast<size_t>(c.T * ldx), 9);
    const std::vector<float> xr = RoundedLike(x, c.dtype);
    DeviceBuffer dw = Upload(w.bytes), dx = Upload(x);
    DeviceBuffer dy = Upload(std::vector<float>(static_cast<size_t>(c.T * ldy), -7.0f));
    DeviceBuffer half = Upload(std::vector<uint8_t>(
        static_cast<size_t>(std::max<int64_t>(1, GemmScratchBytes(c.T, c.k, c.dtype)))));
    absl::Status s;
    if (c.transposed) {
      const DeviceMatrix m{dw.data(), c.dtype, c.k, c.n};
      s = GemmXW(dx.as<float>(), c.T, ldx, m, dy.as<float>(), half.data(), c.tf32);
    } else {
      const DeviceMatrix m{dw.data(), c.dtype, c.n, c.k};
      s = GemmXWt(dx.as<float>(), c.T, m, dy.as<float>(), ldy, half.data(), c.tf32);
    }
    ASSERT_TRUE(s.ok()) << where << ": " << s;
    const std::vector<float> y = Download<float>(dy, static_cast<size_t>(c.T * ldy));
    const double own = c.tf32 ? 2e-3 : c.dtype == DType::kF32 ? 1e-5 : 5e-5;
    const double cpu = c.dtype == DType::kBF16  ? 1.0 / 256
                       : c.dtype == DType::kF16 ? 1.0 / 1024
                                                : own;
    for (int t = 0; t < c.T; ++t) {
      for (int64_t r = 0; r < c.n; ++r) {
        double want = 0.0, want_rounded = 0.0, mag = 0.0;
        for (int64_t k = 0; k < c.k; ++k) {
          const double wv = c.transposed ? w.values[k * c.n + r] : w.values[r * c.k + k];
          want += static_cast<double>(x[t * ldx + k]) * wv;
          want_rounded += static_cast<double>(xr[t * ldx + k]) * wv;
          mag += std::fabs(static_cast<double>(x[t * ldx + k]) * wv);
        }
        const std::string at = where + " t=" + std::to_string(t) + " r=" + std::to_string(r);
        ExpectClose(y[t * ldy + r], want_rounded, mag, own, at + " (rounded activations)");
        ExpectClose(y[t * ldy + r], want, mag, cpu, at + " (F32 activations)");
      }
      // Columns past n of a strided y are left alone.
      for (int64_t r = c.n; r < ldy; ++r) ASSERT_EQ(y[t * ldy + r], -7.0f) << where;
    }
  }
}

// A chunk's rows through cuBLAS against the same rows through RowDots, 16 at a time (what
// CudaForward::Step does below and above kGemmMinRows): within 1e-5 of Σ|terms| for F32.
TEST_F(CudaTest, GemmAgreesWithRowDotsOverAChunk) {
  const int64_t n = 200, k = 512;
  const int T = 100;
  const HostMatrix w = MakeMatrix(n, k, DType::kF32, 21);
  const std::vector<float> x = Random(static_cast<size_t>(T * k), 22);
  DeviceBuffer dw = Upload(w.bytes), dx = Upload(x);
  DeviceBuffer g = Upload(std::vector<float>(static_cast<size_t>(T * n), 0.0f));
  DeviceBuffer d = Upload(std::vector<float>(static_cast<size_t>(T * n), 0.0f));
  const DeviceMatrix m{dw.data(), DType::kF32, n, k};
  ASSERT_TRUE(GemmXWt(dx.as<float>(), T, m, g.as<float>(), n, nullptr).ok());
  for (int t0 = 0; t0 < T; t0 += kMaxDeviceBatch) {
    const int rows = std::min(kMaxDeviceBatch, T - t0);
    ASSERT_TRUE(RowDots(dx.as<float>() + t0 * k, rows, m, nullptr, nullptr, 0,
                        d.as<float>() + t0 * n, n, RowDotsMode::kStore)
                    .ok());
  }
  const std::vector<float> yg = Download<float>(g, static_cast<size_t>(T * n));
  const std::vector<float> yd = Download<float>(d, static_cast<size_t>(T * n));
  for (int t = 0; t < T; ++t) {
    for (int64_t r = 0; r < n; ++r) {
      double mag = 0.0;
      for (int64_t j = 0; j < k; ++j) mag += std::fabs(x[t * k + j] * w.values[r * k + j]);
      ExpectClose(yg[t * n + r], yd[t * n + r], mag, 1e-5,
                  "t=" + std::to_string(t) + " r=" + std::to_string(r));
    }
  }
}

// The GEMM wrapper's argument checks, before any CUDA call: these need no GPU.
TEST(CudaKernelArgumentsTest, GemmRefusesQuantizedWeightsBadStridesAndMissingScratch) {
  const DeviceMatrix q8{nullptr, DType::kQ8_0, 32, 32};
  absl::Status s = GemmXWt(nullptr, 17, q8, nullptr, 32, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("GemmXWt: weight type Q8_0"), std::string::npos) << s;
  s = GemmXW(nullptr, 17, 32, q8, nullptr, nullptr);
  EXPECT_NE(s.message().find("GemmXW: weight type Q8_0"), std::string::npos) << s;
  const DeviceMatrix f32{nullptr, DType::kF32, 64, 32};
  s = GemmXWt(nullptr, 17, f32, nullptr, 63, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ldy 63"), std::string::npos) << s;
  s = GemmXW(nullptr, 17, 63, f32, nullptr, nullptr);
  EXPECT_NE(s.message().find("lda 63"), std::string::npos) << s;
  const DeviceMatrix bf16{nullptr, DType::kBF16, 64, 32};
  s = GemmXWt(nullptr, 17, bf16, nullptr, 64, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("half_scratch is null for BF16"), std::string::npos) << s;
  const DeviceMatrix huge{nullptr, DType::kF32, int64_t{1} << 32, 32};
  s = GemmXWt(nullptr, 17, huge, nullptr, int64_t{1} << 32, nullptr);
  EXPECT_NE(s.message().find("exceeds cuBLAS's int range"), std::string::npos) << s;
  EXPECT_EQ(GemmScratchBytes(256, 8192, DType::kBF16), 256 * 8192 * 2);
  EXPECT_EQ(GemmScratchBytes(256, 8192, DType::kF32), 0);
}

// The activation of each row against the CPU's ApplyActivation: the same zeros (StochA's
// draws are the same function), SiLU values within a few ulp.
TEST_F(CudaTest, ActivateMatchesCpuAndCompactsTheUnion) {
  const int64_t F = 2500;  // not a multiple of the 1024-thread compaction tile
  const ActivationSpec specs[] = {{ActivationKind::kRelu, 0.0f},
                                  {ActivationKind::kStochA, 0.3f},
                                  {ActivationKind::kSilu, 0.0f},
                                  {ActivationKind::kStochA, 1.0f}};
  for (int T : {1, 4, 16}) {
    std::vector<float> h = Random(static_cast<size_t>(T * F), 21 + T, 0.05f);
    std::vector<DeviceActivation> acts;
    std::vector<float> cpu = h;
    std::vector<int64_t> cpu_zeros;
    std::vector<uint8_t> cpu_active(F, 0);
    for (int t = 0; t < T; ++t) {
      const ActivationSpec& spec = specs[t % 4];
      const RngKey key{1234u + static_cast<uint64_t>(t), static_cast<uint32_t>(t % 3),
                       static_cast<uint32_t>(100 + t), 5};
      acts.push_back(MakeDeviceActivation(spec, key));
      cpu_zeros.push_back(ApplyActivation(spec, key, cpu.data() + t * F, F));
      for (int64_t f = 0; f < F; ++f) cpu_active[f] |= cpu[t * F + f] != 0.0f ? 1 : 0;
    }
    DeviceBuffer dh = Upload(h), dacts = Upload(acts);
    DeviceBuffer zeros = Upload(std::vector<int32_t>(T, -7));
    DeviceBuffer active = Upload(std::vector<uint8_t>(F, 9));
    ASSERT_TRUE(Activate(dh.as<float>(), T, F, F, dacts.as<DeviceActivation>(), zeros.as<int32_t>(),
                         active.as<uint8_t>())
                    .ok());
    const std::vector<float> gpu = Download<float>(dh, T * F);
    const std::vector<int32_t> gz = Download<int32_t>(zeros, T);
    const std::vector<uint8_t> ga = Download<uint8_t>(active, F);
    for (int t = 0; t < T; ++t) {
      EXPECT_EQ(gz[t], cpu_zeros[t]) << "row " << t;
      for (int64_t f = 0; f < F; ++f) {
        const float c = cpu[t * F + f], g = gpu[t * F + f];
        ASSERT_EQ(c == 0.0f, g == 0.0f) << "row " << t << " f " << f;
        EXPECT_LE(std::fabs(c - g), 6e-7f * std::fabs(c) + 1e-37f) << "row " << t << " f " << f;
      }
    }
    EXPECT_EQ(ga, cpu_active) << "T=" << T;
    std::vector<int32_t> want_idx(F);
    std::vector<float> any(F);
    for (int64_t f = 0; f < F; ++f) any[f] = cpu_active[f];
    want_idx.resize(static_cast<size_t>(CollectNonZero(any.data(), F, want_idx.data())));
    DeviceBuffer idx = Upload(std::vector<int32_t>(F, -1)),
                 count = Upload(std::vector<int32_t>{-1});
    ASSERT_TRUE(
        CompactActive(active.as<uint8_t>(), F, idx.as<int32_t>(), count.as<int32_t>()).ok());
    const int32_t n = Download<int32_t>(count, 1)[0];
    ASSERT_EQ(n, static_cast<int32_t>(want_idx.size())) << "T=" << T;
    std::vector<int32_t> got = Download<int32_t>(idx, F);
    got.resize(static_cast<size_t>(n));
    EXPECT_EQ(got, want_idx) << "T=" << T;
  }
}

TEST_F(CudaTest, CompactHandlesNoneAllAndOneActive) {
  const int64_t F = 3000;
  for (int pattern = 0; pattern < 3; ++pattern) {
    std::vector<uint8_t> flags(F, pattern == 1 ? 1 : 0);
    if (pattern == 2) flags[2999] = 1;
    DeviceBuffer active = Upload(flags), idx = Upload(std::vector<int32_t>(F, -1)),
                 count = Upload(std::vector<int32_t>{-1});
    ASSERT_TRUE(
        CompactActive(active.as<uint8_t>(), F, idx.as<int32_t>(), count.as<int32_t>()).ok());
    const int32_t n = Download<int32_t>(count, 1)[0];
    const std::vector<int32_t> got = Download<int32_t>(idx, F);
    if (pattern == 0) {
      EXPECT_EQ(n, 0);
    }
    if (pattern == 1) {
      ASSERT_EQ(n, F);
      for (int64_t f = 0; f < F; ++f) ASSERT_EQ(got[f], f);
    }
    if (pattern == 2) {
      ASSERT_EQ(n, 1);
      EXPECT_EQ(got[0], 2999);
    }
  }
}

struct DownCase {
  DType dtype;
  int T;
  int64_t F, D;
  float zero_fraction;  // 1.0: every activation zero; negative: one active neuron
};

TEST_F(CudaTest, DownAxpySparseEqualsDenseAndMatchesDoubleSums) {
  const DownCase cases[] = {
      {DType::kF32, 1, 700, 300, 0.9f},   {DType::kBF16, 16, 700, 300, 0.5f},
      {DType::kF16, 4, 1024, 2048, 0.0f}, {DType::kBF16, 1, 512, 256, 1.0f},
      {DType::kF32, 16, 600, 96, -1.0f},  {DType::kBF16, 16, 2048, 512, 0.9f}};
  for (const DownCase& c : cases) {
    const std::string where = std::string(DTypeName(c.dtype)) + " T=" + std::to_string(c.T) +
                              " F=" + std::to_string(c.F) + " D=" + std::to_string(c.D) +
                              " zeros=" + std::to_string(c.zero_fraction);
    const HostMatrix w = MakeMatrix(c.F, c.D, c.dtype, 13);
    std::vector<float> a =
        Random(static_cast<size_t>(c.T * c.F), 17, c.zero_fraction < 0 ? 1.0f : c.zero_fraction);
    if (c.zero_fraction < 0) a[static_cast<size_t>((c.T - 1) * c.F + 333)] = 0.75f;
    std::vector<int32_t> idx;
    for (int64_t f = 0; f < c.F; ++f) {
      bool on = false;
      for (int t = 0; t < c.T; ++t) on = on || a[t * c.F + f] != 0.0f;
      if (on) idx.push_back(static_cast<int32_t>(f));
    }
    const std::vector<int32_t> count = {static_cast<int32_t>(idx.size())};
    if (idx.empty()) idx.push_back(0);  // a valid allocation; count says none
    DeviceBuffer dw = Upload(w.bytes), da = Upload(a), didx = Upload(idx), dcount = Upload(count);
    DeviceBuffer partials =
        Upload(std::vector<float>(static_cast<size_t>(DownAxpyScratchFloats(c.T, c.F, c.D)), 0.0f));
    DeviceBuffer dense = Upload(std::vector<float>(c.T * c.D, -1.0f));
    DeviceBuffer sparse = Upload(std::vector<float>(c.T * c.D, -1.0f));
    const DeviceMatrix m{dw.data(), c.dtype, c.F, c.D};
    ASSERT_TRUE(DownAxpy(da.as<float>(), c.T, c.F, m, nullptr, nullptr, partials.as<float>(),
                         dense.as<float>())
                    .ok());
    ASSERT_TRUE(DownAxpy(da.as<float>(), c.T, c.F, m, didx.as<int32_t>(), dcount.as<int32_t>(),
                         partials.as<float>(), sparse.as<float>())
                    .ok());
    const std::vector<float> yd = Download<float>(dense, c.T * c.D);
    const std::vector<float> ys = Download<float>(sparse, c.T * c.D);
    for (int t = 0; t < c.T; ++t) {
      for (int64_t d = 0; d < c.D; ++d) {
        double want = 0.0, mag = 0.0;
        for (int64_t f = 0; f < c.F; ++f) {
          const double p = static_cast<double>(a[t * c.F + f]) * w.values[f * c.D + d];
          want += p;
          mag += std::fabs(p);
        }
        ASSERT_EQ(yd[t * c.D + d], ys[t * c.D + d]) << where << " t " << t << " d " << d;
        ExpectClose(yd[t * c.D + d], want, mag, 2e-6, where);
      }
    }
  }
}

TEST_F(CudaTest, RmsNormMatchesCpu) {
  for (int64_t n : {64, 2048, 3000}) {
    const int64_t T = 5;
    const std::vector<float> x = Random(T * n, 31), w = Random(n, 37);
    DeviceBuffer dx = Upload(x), dw = Upload(w), dout = Upload(std::vector<float>(T * n));
    ASSERT_TRUE(RmsNormRows(dx.as<float>(), dw.as<float>(), T, n, 1e-5f, dout.as<float>()).ok());
    const std::vector<float> got = Download<float>(dout, T * n);
    std::vector<float> want(T * n);
    for (int64_t t = 0; t < T; ++t)
      RmsNorm(x.data() + t * n, w.data(), n, 1e-5f, want.data() + t * n);
    for (int64_t i = 0; i < T * n; ++i) {
      EXPECT_LE(std::fabs(got[i] - want[i]), 2e-6f * std::fabs(want[i]) + 1e-7f)
          << "n " << n << " i " << i;
    }
  }
}

TEST_F(CudaTest, RopeMatchesCpuInBothLayouts) {
  for (RopeStyle style : {RopeStyle::kInterleaved, RopeStyle::kHalf}) {
    ModelConfig config;
    config.head_dim = 64;
    config.rope_theta = 500000.0f;
    config.rope_style = style;
    const Rope rope(config);
    const int heads = 3, T = 4;
    const std::vector<int32_t> positions = {0, 1, 777, 4095};
    const std::vector<float> v = Random(T * heads * 64, 41);
    DeviceBuffer dv = Upload(v), dpos = Upload(positions), dfreq = Upload(rope.inv_freq());
    ASSERT_TRUE(
        RopeRows(dv.as<float>(), T, heads, 64, dpos.as<int32_t>(), dfreq.as<float>(), style).ok());
    const std::vector<float> got = Download<float>(dv, v.size());
    std::vector<float> want = v;
    for (int t = 0; t < T; ++t) rope.Apply(want.data() + t * heads * 64, heads, positions[t]);
    for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(got[i], want[i], 2e-6f) << "i " << i;
  }
}

TEST_F(CudaTest, AttentionMatchesDoubleSoftmaxForGqaAndOddHeadDims) {
  for (int head_dim : {64, 8, 48}) {
    const int heads = 8, kv_heads = 2, T = 3;
    const std::vector<int32_t> positions = {0, 17, 300};
    const int64_t max_positions = 301, kv = static_cast<int64_t>(kv_heads) * head_dim;
    // Each token row its own sequence (own cache), as in a decode batch.
    std::vector<std::vector<float>> k, v;
    std::vector<DeviceBuffer> dk, dv;
    std::vector<DeviceAttentionRow> rows;
    for (int t = 0; t < T; ++t) {
      k.push_back(Random(static_cast<size_t>((positions[t] + 1) * kv), 50 + t));
      v.push_back(Random(static_cast<size_t>((positions[t] + 1) * kv), 60 + t));
      dk.push_back(Upload(k.back()));
      dv.push_back(Upload(v.back()));
      rows.push_back({dk.back().as<float>(), dv.back().as<float>(), positions[t]});
    }
    const std::vector<float> q = Random(static_cast<size_t>(T) * heads * head_dim, 70);
    DeviceBuffer dq = Upload(q), drows = Upload(rows);
    DeviceBuffer scores = Upload(
        std::vector<float>(static_cast<size_t>(AttentionScratchFloats(T, heads, max_positions))));
    DeviceBuffer dout = Upload(std::vector<float>(q.size(), -9.0f));
    ASSERT_TRUE(Attend(dq.as<float>(), T, heads, kv_heads, head_dim, drows.as<DeviceAttentionRow>(),
                       max_positions, scores.as<float>(), dout.as<float>())
                    .ok());
    const std::vector<float> got = Download<float>(dout, q.size());
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < heads; ++h) {
        const int kvh = h / (heads / kv_heads);
        const float* qh = q.data() + (t * heads + h) * head_dim;
        std::vector<double> w(static_cast<size_t>(positions[t] + 1));
        double m = -1e300, sum = 0.0;
        for (int p = 0; p <= positions[t]; ++p) {
          double dot = 0.0;
          for (int i = 0; i < head_dim; ++i)
            dot += static_cast<double>(qh[i]) * k[t][p * kv + kvh * head_dim + i];
          w[p] = dot / std::sqrt(static_cast<double>(head_dim));
          m = std::max(m, w[p]);
        }
        for (double& x : w) sum += (x = std::exp(x - m));
        for (int i = 0; i < head_dim; ++i) {
          double want = 0.0;
          for (int p = 0; p <= positions[t]; ++p)
            want += w[p] / sum * v[t][p * kv + kvh * head_dim + i];
          EXPECT_NEAR(got[(t * heads + h) * head_dim + i], want, 2e-5)
              << "head_dim " << head_dim << " t " << t << " h " << h << " i " << i;
        }
      }
    }
  }
}

TEST_F(CudaTest, OutOfMemoryIsResourceExhaustedAndTheDeviceStaysUsable) {
  const absl::StatusOr<DeviceBuffer> huge = DeviceBuffer::Allocate(int64_t{1} << 50);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
  const absl::StatusOr<DeviceBuffer> small = DeviceBuffer::Allocate(1 << 20);
  EXPECT_TRUE(small.ok()) << small.status();
  EXPECT_TRUE(Synchronize().ok());
}

}  // namespace
}  // namespace stocha::cuda
