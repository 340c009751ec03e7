// The gpu-worker's CUDA kernels (kernels/cuda/gpu_kernels.h, blas.h, device_memory.h) against
// the CPU kernels and plain float/double references, on seeded random data of several shapes.
// Every test first asks query_devices(): without a usable device it says why (MESSAGE),
// checks that the API then reports unavailability cleanly (kernels_available() false with a
// reason, DeviceBuffer / Stream / Blas constructors throw CudaError) and returns.
//
// Float error bounds used below (u = 2^-24, float's unit roundoff): a float sum of terms
// t_1..t_m accumulated along chains of at most k additions is within about k * u * sum |t_i|
// of the exact sum (the standard gamma_k bound, first order). Each bound names its k and
// takes 2u per step instead of u (a 2x margin); `mag` is the sum of |terms|.
#include <doctest/doctest.h>
#include "tests/skip_report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/layer_ops.h"
#include "engine/neuron_bundles.h"
#include "engine/thread_pool.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/gpu_kernels.h"
#include "kernels/cuda/pointwise.h"
#include "kernels/dequantize.h"
#include "kernels/elementwise.h"
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/quantize.h"
#include "kernels/sparse_ffn.h"
#include "kernels/vec_dot.h"

using namespace actinfer;

namespace {

constexpr double kStepU2 = 0x1.0p-23;  // 2u: the per-step error with the 2x margin

// True (after the unavailability checks) when there is no device to test on.
bool skip_without_kernels(const char* what) {
  const auto info = cuda::query_devices();
  if (info.available) return false;
  ACTINFER_REPORT_SKIPPED("no usable CUDA device: " << info.reason << " (" << std::string(what) << " skipped)");  // a string: doctest prints a char* as an address
  std::string reason;
  CHECK_FALSE(cuda::kernels_available(reason));
  CHECK_FALSE(reason.empty());
  CHECK_THROWS_AS(cuda::DeviceBuffer(256), cuda::CudaError);
  CHECK_THROWS_AS(cuda::Stream(), cuda::CudaError);
  const cuda::DeviceBuffer empty(0);  // no allocation: fine anywhere
  CHECK(empty.empty());
  CHECK(empty.data() == nullptr);
  return true;
}

std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

const GgmlType kRowTypes[] = {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1};

// n_rows rows of n elements of `type`, row_stride bytes apart (padding filled with 0xA5).
// raw_bits false: quantize_row of uniform(-1, 1) floats (realistic blocks); true (quantized
// types): random qs bytes (every nibble / int8 value) with random sane fp16 scales and mins.
std::vector<uint8_t> random_rows(std::mt19937& rng, GgmlType type, int64_t n_rows, int64_t n, size_t row_stride, bool raw_bits) {
  const size_t rb = static_cast<size_t>(row_bytes(type, n));
  std::vector<uint8_t> data(row_stride * static_cast<size_t>(n_rows) + 16, 0xA5);
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f), minimum(-0.5f, 0.5f);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int64_t r = 0; r < n_rows; ++r) {
    uint8_t* row = data.data() + static_cast<size_t>(r) * row_stride;
    const bool quantized = type == GgmlType::Q8_0 || type == GgmlType::Q4_0 || type == GgmlType::Q4_1;
    if (!raw_bits || !quantized) {
      const auto f = random_floats(rng, static_cast<size_t>(n), -1.0f, 1.0f);
      quantize_row(type, f.data(), row, n);
      continue;
    }
    for (size_t i = 0; i < rb; ++i) row[i] = static_cast<uint8_t>(byte(rng));
    const size_t block = type == GgmlType::Q8_0 ? sizeof(block_q8_0) : type == GgmlType::Q4_0 ? sizeof(block_q4_0) : sizeof(block_q4_1);
    for (size_t b = 0; b < rb / block; ++b) {
      const uint16_t d = f32_to_fp16(scale(rng));
      std::memcpy(row + b * block, &d, 2);
      if (type == GgmlType::Q4_1) {
        const uint16_t m = f32_to_fp16(minimum(rng));
        std::memcpy(row + b * block + 2, &m, 2);
      }
    }
  }
  return data;
}

// |m| of each 32-block of a Q4_1 row (0 for other types).
double q4_1_min(GgmlType type, const uint8_t* row, int64_t block) {
  if (type != GgmlType::Q4_1) return 0.0;
  block_q4_1 b;
  std::memcpy(&b, row + static_cast<size_t>(block) * sizeof(block_q4_1), sizeof b);
  return std::fabs(fp16_to_f32(b.m));
}

struct RowRef {
  double dot = 0;     // dot(dequantize_row(w), x) in double
  double mag = 0;     // sum |terms| of the GPU's float sums (Q4_1: d q x and m x separately)
  double act_err = 0;  // bound on what the CPU's Q8 rounding of x can move the dot
};

RowRef row_reference(GgmlType type, const uint8_t* row, const float* x, int64_t n) {
  std::vector<float> w(static_cast<size_t>(n));
  dequantize_row(type, row, w.data(), n);
  RowRef r;
  for (int64_t b = 0; b * 32 < n; ++b) {
    const int64_t j1 = std::min<int64_t>(n, (b + 1) * 32);
    const double m = q4_1_min(type, row, b);
    double amax = 0, wsum = 0;
    for (int64_t j = b * 32; j < j1; ++j) {
      r.dot += static_cast<double>(w[j]) * x[j];
      // |d q| <= |w| + |m|: 2|m| covers both the d q x and the m x terms of the GPU's sum.
      r.mag += (std::fabs(w[j]) + 2 * m) * std::fabs(x[j]);
      amax = std::max(amax, static_cast<double>(std::fabs(x[j])));
      wsum += std::fabs(w[j]);
    }
    // Q8_0/Q8_1 activation: each x_j moves by at most amax/254 + amax 2^-11 (< 0.0045 amax,
    // kernels/vec_dot.h); the Q4_1 min term sees the block's sum of those plus the fp16
    // rounding of s (32 amax 2^-11): 0.005 amax (sum |w| + 64 |m|) covers both.
    r.act_err += 0.005 * amax * (wsum + 64 * m);
  }
  return r;
}

}  // namespace

TEST_CASE("cuda kernels: device buffers and streams") {
  if (skip_without_kernels("device buffers")) return;
  cuda::Stream stream;
  std::vector<float> host(1000);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i) * 0.5f - 3.0f;
  cuda::DeviceBuffer a = cuda::DeviceBuffer::from_vector(host);
  CHECK(a.bytes() == 4000);
  CHECK(reinterpret_cast<uintptr_t>(a.data()) % 256 == 0);
  CHECK(a.to_vector<float>() == host);

  // Partial copies at an offset, and bounds.
  const std::vector<float> patch = {7.0f, 8.0f, 9.0f};
  a.upload(patch.data(), 12, 40);
  std::vector<float> back(5);
  a.download(back.data(), 20, 36);
  CHECK(back == std::vector<float>{host[9], 7.0f, 8.0f, 9.0f, host[13]});
  CHECK_THROWS_AS(a.upload(patch.data(), 12, 3992), std::out_of_range);
  CHECK_THROWS_AS(a.download(back.data(), 8, 4000), std::out_of_range);
  CHECK_THROWS_AS(a.download(back.data(), 1, static_cast<size_t>(-1)), std::out_of_range);

  // Moves leave the source empty; the destination's old allocation is freed.
  void* const p = a.data();
  cuda::DeviceBuffer b(std::move(a));
  CHECK(a.empty());
  CHECK(a.data() == nullptr);
  CHECK(b.data() == p);
  cuda::DeviceBuffer c(64);
  c = std::move(b);
  CHECK(c.data() == p);
  CHECK(c.bytes() == 4000);

  // Asynchronous copies on a stream, and zeroing.
  std::vector<float> other(1000, 1.25f), got(1000, 0.0f);
  c.upload_async(other.data(), 4000, stream);
  c.download_async(got.data(), 4000, stream);
  stream.synchronize();
  CHECK(got == other);
  c.fill_zero();
  CHECK(c.to_vector<float>() == std::vector<float>(1000, 0.0f));

  cuda::Stream s2 = std::move(stream);
  CHECK(stream.handle() == nullptr);
  CHECK(s2.handle() != nullptr);
  s2.synchronize();
  std::string reason;
  CHECK(cuda::kernels_available(reason));
}

TEST_CASE("cuda kernels: dequantize_rows equals dequantize_row bit for bit") {
  if (skip_without_kernels("dequantize_rows")) return;
  cuda::Stream stream;
  std::mt19937 rng(101);
  for (GgmlType type : kRowTypes)
    for (int64_t n : {32, 96, 4096})
      for (bool padded : {false, true}) {
        const int64_t n_rows = 37;
        const size_t rb = static_cast<size_t>(row_bytes(type, n));
        const size_t stride = padded ? rb + 36 : rb;  // 36: keeps the 4-byte alignment every type needs
        const auto rows = random_rows(rng, type, n_rows, n, stride, true);
        cuda::DeviceBuffer dw = cuda::DeviceBuffer::from_vector(rows), dout(sizeof(float) * n * n_rows);
        cuda::dequantize_rows(type, dw.data(), stride, n_rows, n, dout.as<float>(), stream);
        stream.synchronize();
        const auto got = dout.to_vector<float>();
        std::vector<float> want(static_cast<size_t>(n * n_rows));
        for (int64_t r = 0; r < n_rows; ++r) dequantize_row(type, rows.data() + r * stride, want.data() + r * n, n);
        INFO("type " << type_name(static_cast<uint32_t>(type)) << ", n " << n << ", padded " << padded);
        CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
      }
}

// y = W x for every row type, several shapes, contiguous and padded rows, 1 and 3 tokens.
// Against dot(dequantize_row(w), x) in double: the GPU sums, per lane, one term per 32
// elements (F32/F16) or per 256-element step of 8-term block sums (quantized), then 5 shuffle
// levels: chains of at most n/32 + 16 steps, so |err| <= (n/32 + 16) * 2u * mag.
// Against the CPU's vec_dot_rows: F32/F16 take x in float there too (add the CPU's own
// summation error, chains of at most n/8 + 32 steps); quantized rows see x rounded to Q8_0/Q8_1
// on the CPU (RowRef::act_err) on top of both summation errors.
TEST_CASE("cuda kernels: gemv for F32, F16, Q8_0, Q4_0, Q4_1 against dequantize_row and vec_dot") {
  if (skip_without_kernels("gemv")) return;
  cuda::Stream stream;
  std::mt19937 rng(7);
  struct Shape {
    int64_t rows, n;
  };
  int n_cases = 0;
  double worst_rel = 0;
  for (GgmlType type : kRowTypes) {
    CHECK(cuda::gemv_supports(type));
    std::vector<Shape> shapes = {{1, 32}, {7, 64}, {33, 256}, {257, 1024}, {64, 4096}, {8, 2080}};
    if (type == GgmlType::F32 || type == GgmlType::F16) shapes.insert(shapes.end(), {{5, 50}, {9, 33}, {3, 1}});
    for (const Shape& sh : shapes)
      for (int layout = 0; layout < 3; ++layout)
        for (int B : {1, 3}) {
          // layout 0: contiguous, quantize_row data; 1: padded stride (+36 bytes), raw bits;
          // 2: stride + 2 bytes (F16's 2-byte-aligned path; other types: +4) with raw bits.
          const size_t rb = static_cast<size_t>(row_bytes(type, sh.n));
          const size_t odd = type == GgmlType::F16 || type == GgmlType::Q8_0 || type == GgmlType::Q4_0 ? 2 : 4;
          const size_t stride = layout == 0 ? rb : layout == 1 ? rb + 36 : rb + odd;
          const auto rows = random_rows(rng, type, sh.rows, sh.n, stride, layout != 0);
          const auto x = random_floats(rng, static_cast<size_t>(sh.n * B), -1.0f, 1.0f);
          cuda::DeviceBuffer dw = cuda::DeviceBuffer::from_vector(rows), dx = cuda::DeviceBuffer::from_vector(x);
          cuda::DeviceBuffer dy(sizeof(float) * sh.rows * B);
          cuda::gemv(type, dw.data(), stride, sh.rows, sh.n, dx.as<float>(), dy.as<float>(), B, stream);
          stream.synchronize();
          const auto y = dy.to_vector<float>();

          std::vector<float> y_cpu(static_cast<size_t>(sh.rows));
          std::vector<uint8_t> act(static_cast<size_t>(row_bytes(activation_type_for(type), sh.n)));
          INFO("type " << type_name(static_cast<uint32_t>(type)) << ", " << sh.rows << " x " << sh.n << ", layout " << layout
                       << ", B " << B);
          for (int t = 0; t < B; ++t) {
            const float* xt = x.data() + t * sh.n;
            quantize_activation(type, xt, act.data(), sh.n);
            vec_dot_rows(type, sh.n, rows.data(), stride, sh.rows, act.data(), y_cpu.data());
            for (int64_t r = 0; r < sh.rows; ++r) {
              const RowRef ref = row_reference(type, rows.data() + r * stride, xt, sh.n);
              const float got = y[static_cast<size_t>(t * sh.rows + r)];
              const double tol = (static_cast<double>(sh.n) / 32 + 16) * kStepU2 * ref.mag + 1e-30;
              const double err = std::fabs(got - ref.dot);
              worst_rel = std::max(worst_rel, err / (ref.mag + 1e-30));
              CHECK_MESSAGE(err <= tol, "row " << r << " token " << t << ": gpu " << got << ", exact " << ref.dot);
              const bool float_act = type == GgmlType::F32 || type == GgmlType::F16;
              const double tol_cpu = tol + (static_cast<double>(sh.n) / 8 + 32) * kStepU2 * ref.mag + (float_act ? 0.0 : ref.act_err);
              CHECK_MESSAGE(std::fabs(got - y_cpu[static_cast<size_t>(r)]) <= tol_cpu,
                            "row " << r << " token " << t << ": gpu " << got << ", cpu vec_dot " << y_cpu[static_cast<size_t>(r)]);
            }
          }
          // The same call again gives the same bits (fixed summation order).
          cuda::gemv(type, dw.data(), stride, sh.rows, sh.n, dx.as<float>(), dy.as<float>(), B, stream);
          stream.synchronize();
          CHECK(dy.to_vector<float>() == y);
          ++n_cases;
        }
  }
  MESSAGE("gemv: " << n_cases << " cases, worst |err| / sum|terms| = " << worst_rel);

  // Argument checks happen before anything is launched.
  cuda::DeviceBuffer dummy(1 << 16);
  const float* xf = dummy.as<float>();
  float* yf = dummy.as<float>();
  CHECK_THROWS_AS(cuda::gemv(GgmlType::Q4_K, dummy.data(), 144, 1, 256, xf, yf, 1, stream), std::invalid_argument);
  CHECK_THROWS_AS(cuda::gemv(GgmlType::Q8_0, dummy.data(), 34, 1, 48, xf, yf, 1, stream), std::invalid_argument);
  CHECK_THROWS_AS(cuda::gemv(GgmlType::Q8_0, dummy.data(), 34, 1, 32, xf + 1, yf, 1, stream), std::invalid_argument);
  CHECK_THROWS_AS(cuda::gemv(GgmlType::F32, dummy.as<uint8_t>() + 2, 128, 1, 32, xf, yf, 1, stream), std::invalid_argument);
  CHECK_FALSE(cuda::gemv_supports(GgmlType::Q6_K));
}

// The sparse FFN on neuron bundles built by engine/neuron_bundles.h from random FFN weights
// (the device holds the interleaved records; gate/up/down^T are strided views of them).
//   h: against act(g) * u with g, u = dot(dequantized row, x) in double. |dg| <= (d/32 + 16)
//      2u mag_g (as for gemv), and |act'| <= 1.1 (SiLU; ReLU 1; GELU 1.13), so
//      |dh| <= 1.2 |dg| |u| + |act(g)| |du| + |dg| |du| (a ReLU that flips near 0 is covered:
//      there |g| <= |dg|).
//   y: against sum_k h_gpu[k] downT_k in double (the down kernel alone): chains of at most
//      n_active + 64 additions: |err_j| <= (n_active + 72) 2u sum_k |h_k downT_kj|.
//   y against the CPU's sparse_ffn (which rounds x to Q8_0 for quantized gate/up): F32/F16
//      1e-4 of max|y| (float summation only); quantized 3e-2 of max|y| (x moves by up to 1/254
//      of its block's max per element, which moves g and u by ~0.3% of their scale; the
//      measured figure is printed; lists of 16 neurons or more, so max|y| is a sum of many).
TEST_CASE("cuda kernels: sparse gate/up and down over neuron bundles against sparse_ffn") {
  if (skip_without_kernels("sparse FFN")) return;
  cuda::Stream stream;
  std::mt19937 rng(11);
  ThreadPool pool(1);
  SparseScratch cpu_scratch;
  double worst_vs_cpu_quant = 0, worst_vs_cpu_float = 0;
  int n_cases = 0;
  struct Setup {
    GgmlType type;
    int64_t d, ff;
    Activation act;
    bool gated;
  };
  const Setup setups[] = {
      {GgmlType::F32, 128, 384, Activation::ReLU, true},  {GgmlType::F16, 256, 416, Activation::SiLU, true},
      {GgmlType::Q8_0, 128, 384, Activation::ReLU, true}, {GgmlType::Q4_0, 256, 416, Activation::ReLU, true},
      {GgmlType::Q4_1, 128, 384, Activation::SiLU, true}, {GgmlType::Q8_0, 96, 128, Activation::GELU, true},
      {GgmlType::F32, 128, 160, Activation::ReLU, false}, {GgmlType::Q4_0, 64, 96, Activation::SiLU, false},
  };
  for (const Setup& su : setups) {
    // Random FFN weights in the setup's type (gate/up [ff][d], down [d][ff]).
    const int64_t d = su.d, ff = su.ff;
    const auto gate = su.gated ? random_rows(rng, su.type, ff, d, static_cast<size_t>(row_bytes(su.type, d)), false) : std::vector<uint8_t>{};
    const auto up = random_rows(rng, su.type, ff, d, static_cast<size_t>(row_bytes(su.type, d)), false);
    const auto down = random_rows(rng, su.type, d, ff, static_cast<size_t>(row_bytes(su.type, ff)), false);
    auto matrix = [&](const std::vector<uint8_t>& data, int64_t rows, int64_t cols) {
      WeightMatrix m;
      m.type = su.type;
      m.rows = rows;
      m.cols = cols;
      m.data = reinterpret_cast<const std::byte*>(data.data());
      m.row_stride = static_cast<size_t>(row_bytes(su.type, cols));
      return m;
    };
    FfnWeights f;
    if (su.gated) f.gate = matrix(gate, ff, d);
    f.up = matrix(up, ff, d);
    f.down = matrix(down, d, ff);
    f.activation = su.act;
    const NeuronBundles b(f, BlockLayout::Stored);  // the kernels read ggml blocks
    const size_t stride = b.record_bytes();
    cuda::DeviceBuffer records = cuda::DeviceBuffer::from_host(b.record(0), b.bytes());
    const auto* base = records.as<uint8_t>();
    const uint8_t* dgate = su.gated ? base : nullptr;
    const uint8_t* dup = base + (su.gated ? b.gate_up_row_bytes() : 0);
    const uint8_t* ddown = dup + b.gate_up_row_bytes();
    CHECK(b.down_t_type() == NeuronBundles::down_t_type_for(su.type));

    // Inputs: an input of scale ~1 (like a normalised hidden state).
    const auto x = random_floats(rng, static_cast<size_t>(d), -1.5f, 1.5f);
    cuda::DeviceBuffer dx = cuda::DeviceBuffer::from_vector(x);
    // Active lists: all neurons, a shuffled 30% subset, one neuron, none.
    std::vector<std::vector<int32_t>> lists(4);
    for (int32_t i = 0; i < ff; ++i) lists[0].push_back(i);
    std::bernoulli_distribution pick(0.3);
    for (int32_t i = 0; i < ff; ++i)
      if (pick(rng)) lists[1].push_back(i);
    std::shuffle(lists[1].begin(), lists[1].end(), rng);
    lists[2] = {static_cast<int32_t>(ff - 1)};
    cuda::DeviceBuffer scratch(sizeof(float) * cuda::sparse_down_scratch_floats(d));

    for (const auto& active : lists) {
      const int64_t na = static_cast<int64_t>(active.size());
      INFO("type " << type_name(static_cast<uint32_t>(su.type)) << ", d " << d << ", ff " << ff << ", "
                   << activation_name(su.act) << (su.gated ? " gated" : " ungated") << ", " << na << " active");
      cuda::DeviceBuffer dactive = cuda::DeviceBuffer::from_vector(active.empty() ? std::vector<int32_t>{0} : active);
      cuda::DeviceBuffer dh(sizeof(float) * std::max<int64_t>(na, 1));
      cuda::sparse_gate_up(su.type, dgate, dup, stride, d, dactive.as<int32_t>(), na, dx.as<float>(), su.act, dh.as<float>(), stream);
      stream.synchronize();
      std::vector<float> h(static_cast<size_t>(na));
      dh.download(h.data(), h.size() * sizeof(float));

      // h against dequantized rows.
      for (int64_t k = 0; k < na; ++k) {
        const int32_t i = active[static_cast<size_t>(k)];
        const RowRef u = row_reference(su.type, reinterpret_cast<const uint8_t*>(b.up(i)), x.data(), d);
        const double du = (static_cast<double>(d) / 32 + 16) * kStepU2 * u.mag;
        double want, tol;
        if (su.gated) {
          const RowRef g = row_reference(su.type, reinterpret_cast<const uint8_t*>(b.gate(i)), x.data(), d);
          const double dg = (static_cast<double>(d) / 32 + 16) * kStepU2 * g.mag;
          const double a = activate(su.act, static_cast<float>(g.dot));
          want = a * u.dot;
          tol = 1.2 * dg * std::fabs(u.dot) + std::fabs(a) * du + dg * du;
        } else {
          want = activate(su.act, static_cast<float>(u.dot));
          tol = 1.2 * du;
        }
        tol += 4e-7 * std::fabs(want) + 1e-30;  // float activation function and product roundings
        CHECK_MESSAGE(std::fabs(h[static_cast<size_t>(k)] - want) <= tol, "neuron " << i << ": gpu h " << h[static_cast<size_t>(k)] << ", want " << want);
      }

      // y with and without scratch chunks, overwrite and accumulate.
      std::vector<double> y_ref(static_cast<size_t>(d), 0.0), y_mag(static_cast<size_t>(d), 0.0);
      std::vector<float> col(static_cast<size_t>(d));
      for (int64_t k = 0; k < na; ++k) {
        dequantize_row(b.down_t_type(), b.down_t(active[static_cast<size_t>(k)]), col.data(), d);
        for (int64_t j = 0; j < d; ++j) {
          y_ref[j] += static_cast<double>(h[static_cast<size_t>(k)]) * col[j];
          y_mag[j] += std::fabs(static_cast<double>(h[static_cast<size_t>(k)]) * col[j]);
        }
      }
      const auto y0 = random_floats(rng, static_cast<size_t>(d), -2.0f, 2.0f);
      std::vector<float> y_chunked;
      for (int variant = 0; variant < 4; ++variant) {
        const bool use_scratch = variant & 1, accumulate = variant & 2;
        cuda::DeviceBuffer dy = cuda::DeviceBuffer::from_vector(y0);
        cuda::sparse_down(b.down_t_type(), ddown, stride, d, dactive.as<int32_t>(), na, dh.as<float>(), dy.as<float>(), accumulate,
                          use_scratch ? scratch.as<float>() : nullptr, stream);
        stream.synchronize();
        const auto y = dy.to_vector<float>();
        if (variant == 1) y_chunked = y;
        for (int64_t j = 0; j < d; ++j) {
          const double base_v = accumulate ? y0[j] : 0.0;
          const double tol = (static_cast<double>(na) + 72) * kStepU2 * (y_mag[j] + std::fabs(base_v)) + 1e-30;
          CHECK_MESSAGE(std::fabs(y[j] - (y_ref[j] + base_v)) <= tol,
                        "y[" << j << "] variant " << variant << ": gpu " << y[j] << ", want " << y_ref[j] + base_v);
        }
      }

      // Against the CPU sparse FFN (the whole chain); not for a single neuron, whose h alone
      // (relative error unbounded when u or g is near 0) would set the scale.
      if (na < 16) continue;
      std::vector<float> y_cpu(static_cast<size_t>(d), 99.0f);
      sparse_ffn(pool, b, x.data(), active, y_cpu.data(), cpu_scratch);
      double m = 0, e = 0;
      for (int64_t j = 0; j < d; ++j) {
        m = std::max(m, std::fabs(static_cast<double>(y_cpu[j])));
        e = std::max(e, std::fabs(static_cast<double>(y_chunked[j]) - y_cpu[j]));
      }
      const double rel = m > 0 ? e / m : e;
      const bool float_rows = su.type == GgmlType::F32 || su.type == GgmlType::F16;
      (float_rows ? worst_vs_cpu_float : worst_vs_cpu_quant) = std::max(float_rows ? worst_vs_cpu_float : worst_vs_cpu_quant, rel);
      CHECK(rel <= (float_rows ? 1e-4 : 3e-2));
      ++n_cases;
    }
  }
  MESSAGE("sparse FFN: " << n_cases << " cases; max|y_gpu - y_sparse_ffn| / max|y|: float rows " << worst_vs_cpu_float
                         << ", quantized rows " << worst_vs_cpu_quant);

  cuda::DeviceBuffer dummy(4096);
  CHECK_THROWS_AS(cuda::sparse_down(GgmlType::Q4_0, dummy.data(), 18, 32, dummy.as<int32_t>(), 1, dummy.as<float>(), dummy.as<float>(),
                                    false, nullptr, stream),
                  std::invalid_argument);
}

// RMSNorm: the GPU sums squares in float (the CPU in double): chains of n/256 + 8 + 8 steps,
// relative 1e-6 at n = 4096; the scale's sqrt halves that, then 2 roundings of the products:
// 1e-5 relative per element leaves a margin.
// RoPE: cos/sin computed in double from the same expression (equal floats but for ties), then
// a c - b s: nvcc (and gcc) may fuse it, and a tie may round c or s the other way: each side
// is within ~2 roundings of 2^-24 (|a| + |b|) of the exact rotation, so 2^-21 (|a| + |b|)
// with margin; dims past rope_dims must be untouched.
TEST_CASE("cuda kernels: rms_norm and rope_inplace against kernels/elementwise.h") {
  if (skip_without_kernels("rms_norm / rope")) return;
  cuda::Stream stream;
  std::mt19937 rng(5);
  for (int64_t n : {32, 100, 576, 4096}) {
    const int B = 3;
    auto x = random_floats(rng, static_cast<size_t>(n * B), -3.0f, 3.0f);
    x[0] = 1000.0f;  // one large value (outliers are common in hidden states)
    const auto w = random_floats(rng, static_cast<size_t>(n), 0.5f, 1.5f);
    cuda::DeviceBuffer dx = cuda::DeviceBuffer::from_vector(x), dw = cuda::DeviceBuffer::from_vector(w), dout(sizeof(float) * n * B);
    cuda::rms_norm(dx.as<float>(), dw.as<float>(), dout.as<float>(), n, 1e-5f, B, stream);
    cuda::rms_norm(dx.as<float>(), dw.as<float>(), dx.as<float>(), n, 1e-5f, B, stream);  // in place
    stream.synchronize();
    const auto out = dout.to_vector<float>(), inplace = dx.to_vector<float>();
    CHECK(out == inplace);
    std::vector<float> want(static_cast<size_t>(n));
    for (int t = 0; t < B; ++t) {
      rms_norm(x.data() + t * n, w.data(), want.data(), n, 1e-5f);
      for (int64_t j = 0; j < n; ++j)
        CHECK_MESSAGE(std::fabs(out[t * n + j] - want[j]) <= 1e-5 * std::fabs(want[j]) + 1e-30,
                      "n " << n << " token " << t << " [" << j << "]: gpu " << out[t * n + j] << ", cpu " << want[j]);
    }
  }

  struct Rope {
    int n_heads, head_dim, rope_dims, pos0, B;
    float base;
    bool neox;
  };
  for (const Rope& r : {Rope{9, 64, 64, 0, 3, 10000.0f, false}, Rope{4, 128, 128, 4000, 2, 10000.0f, false},
                        Rope{2, 64, 32, 17, 4, 1e6f, false}, Rope{3, 80, 80, 123456, 1, 500000.0f, false},
                        Rope{1, 8, 0, 5, 1, 10000.0f, false}, Rope{4, 256, 256, 300, 3, 1e6f, true},  // gemma3's global layers
                        Rope{2, 48, 48, 9, 2, 10000.0f, true}, Rope{2, 64, 32, 17, 4, 10000.0f, true}}) {
    const size_t width = static_cast<size_t>(r.n_heads) * r.head_dim;
    const auto x = random_floats(rng, width * r.B, -2.0f, 2.0f);
    cuda::DeviceBuffer dx = cuda::DeviceBuffer::from_vector(x);
    cuda::rope_inplace(dx.as<float>(), r.B, r.n_heads, r.head_dim, r.rope_dims, r.pos0, r.base, r.neox, stream);
    stream.synchronize();
    const auto got = dx.to_vector<float>();
    std::vector<float> cs(static_cast<size_t>(r.rope_dims));
    for (int t = 0; t < r.B; ++t) {
      std::vector<float> want(x.begin() + t * width, x.begin() + (t + 1) * width);
      rope_rotations(r.rope_dims, r.pos0 + t, r.base, cs.data());
      (r.neox ? rope_apply_neox : rope_apply)(want.data(), r.n_heads, r.head_dim, r.rope_dims, cs.data());
      for (int h = 0; h < r.n_heads; ++h)
        for (int i = 0; i < r.head_dim; ++i) {
          const size_t j = static_cast<size_t>(h) * r.head_dim + i;
          const float g = got[t * width + j];
          INFO("rope heads " << r.n_heads << " dim " << r.head_dim << " rope_dims " << r.rope_dims << " pos " << r.pos0 + t
                             << (r.neox ? " neox" : "") << " head " << h << " [" << i << "]");
          if (i >= r.rope_dims) {
            CHECK(g == x[t * width + j]);
          } else {
            // The pair: (2k, 2k+1), or NeoX's (k, k + rope_dims / 2).
            const int half = r.rope_dims / 2;
            const size_t p0 = r.neox ? j - (i >= half ? half : 0) : j - (i & 1);
            const size_t p1 = r.neox ? p0 + half : p0 + 1;
            const double tol = 0x1.0p-21 * (std::fabs(x[t * width + p0]) + std::fabs(x[t * width + p1])) + 1e-30;
            CHECK(std::fabs(g - want[j]) <= tol);
          }
        }
    }
  }
  cuda::DeviceBuffer dummy(64);
  CHECK_THROWS_AS(cuda::rope_inplace(dummy.as<float>(), 1, 1, 8, 3, 0, 10000.0f, false, stream), std::invalid_argument);
}

// The output head's soft-cap (final_softcap): cap * tanh(x / cap), as output_head computes it.
TEST_CASE("cuda kernels: softcap_inplace against output_head's expression") {
  if (skip_without_kernels("softcap")) return;
  cuda::Stream stream;
  std::mt19937 rng(17);
  const auto x = random_floats(rng, 1000, -100.0f, 100.0f);
  cuda::DeviceBuffer dx = cuda::DeviceBuffer::from_vector(x);
  cuda::softcap_inplace(dx.as<float>(), 30.0f, static_cast<int64_t>(x.size()), stream);
  stream.synchronize();
  const auto got = dx.to_vector<float>();
  for (size_t i = 0; i < x.size(); ++i) {
    const float want = 30.0f * std::tanh(x[i] / 30.0f);
    INFO("x " << x[i]);
    CHECK(std::fabs(got[i] - want) <= 4e-6f * 30.0f);
  }
  CHECK_THROWS_AS(cuda::softcap_inplace(dx.as<float>(), 0.0f, 4, stream), std::invalid_argument);
}

// Attention against the CPU's loop of engine/layer_ops.cpp's attention_block, copied (dot_f32,
// softmax_inplace, axpy in float). Scores here are O(1): their float errors (~(hd/32 + 5) 2u
// sum|q k| scale) move the softmax weights by ~1e-6 relative, and the weighted sums of v
// (|v| <= 1) by as much: 2e-5 (+ n_pos-proportional summation error) leaves a margin.
// Positions past each token's own (and the cache past pos0 + B - 1, filled with NaN) must not
// be read: any read would make the output NaN or far off.
TEST_CASE("cuda kernels: causal GQA attention against attention_block's loop") {
  if (skip_without_kernels("attention")) return;
  cuda::Stream stream;
  std::mt19937 rng(13);
  struct Att {
    int n_heads, n_kv_heads, head_dim, pos0, B;
    int window = 0;       // gemma3's local layers: the last `window` positions
    float scale = 0.0f;   // 0: 1 / sqrt(head_dim)
  };
  for (const Att& a : {Att{4, 2, 64, 0, 1}, Att{4, 2, 64, 1, 1}, Att{8, 8, 128, 7, 1}, Att{6, 1, 32, 300, 1}, Att{3, 3, 80, 1500, 1},
                       Att{2, 1, 256, 64, 1}, Att{9, 3, 64, 10, 4}, Att{32, 8, 128, 4095, 1}, Att{4, 4, 8, 0, 5},
                       Att{4, 1, 256, 600, 3, 512, 0.0625f}, Att{4, 2, 48, 3, 6, 5}, Att{2, 2, 64, 40, 2, 1}, Att{4, 2, 64, 9, 8, 4, 0.3f}}) {
    const int hd = a.head_dim, kv = a.n_kv_heads * hd, d = a.n_heads * hd;
    const int n_cache = a.pos0 + a.B + 3;  // 3 positions past the last token: NaN, never read
    auto kc = random_floats(rng, static_cast<size_t>(n_cache) * kv, -1.0f, 1.0f);
    auto vc = random_floats(rng, static_cast<size_t>(n_cache) * kv, -1.0f, 1.0f);
    for (size_t i = static_cast<size_t>(a.pos0 + a.B) * kv; i < kc.size(); ++i) kc[i] = vc[i] = NAN;
    // Positions before the window of the batch's first token are never read either.
    const int window_start = a.window > 0 ? std::max(0, a.pos0 + 1 - a.window) : 0;
    for (size_t i = 0; i < static_cast<size_t>(window_start) * kv; ++i) kc[i] = vc[i] = NAN;
    const auto q = random_floats(rng, static_cast<size_t>(a.B) * d, -1.0f, 1.0f);
    cuda::DeviceBuffer dq = cuda::DeviceBuffer::from_vector(q), dk = cuda::DeviceBuffer::from_vector(kc), dv = cuda::DeviceBuffer::from_vector(vc);
    cuda::DeviceBuffer dout(sizeof(float) * a.B * d);
    const float scale = a.scale > 0.0f ? a.scale : 1.0f / std::sqrt(static_cast<float>(hd));
    cuda::attention(dq.as<float>(), dk.as<float>(), dv.as<float>(), dout.as<float>(), a.B, a.pos0, a.n_heads, a.n_kv_heads, hd, scale,
                    a.window, stream);
    stream.synchronize();
    const auto got = dout.to_vector<float>();

    const int group = a.n_heads / a.n_kv_heads;
    std::vector<float> scores(static_cast<size_t>(n_cache)), want(static_cast<size_t>(hd));
    for (int t = 0; t < a.B; ++t)
      for (int h = 0; h < a.n_heads; ++h) {
        const int kvh = h / group, n_pos = a.pos0 + t + 1;
        const int first = a.window > 0 ? std::max(0, n_pos - a.window) : 0, n_seen = n_pos - first;
        const float* qh = &q[static_cast<size_t>(t) * d + static_cast<size_t>(h) * hd];
        for (int p = 0; p < n_seen; ++p) scores[p] = dot_f32(qh, &kc[static_cast<size_t>(first + p) * kv + kvh * hd], hd) * scale;
        softmax_inplace(scores.data(), n_seen);
        std::fill(want.begin(), want.end(), 0.0f);
        for (int p = 0; p < n_seen; ++p) axpy(scores[p], &vc[static_cast<size_t>(first + p) * kv + kvh * hd], want.data(), hd);
        for (int i = 0; i < hd; ++i) {
          const float g = got[static_cast<size_t>(t) * d + static_cast<size_t>(h) * hd + i];
          INFO("heads " << a.n_heads << "/" << a.n_kv_heads << " dim " << hd << " pos " << a.pos0 + t << " window " << a.window << " head " << h
                        << " [" << i << "]");
          CHECK(std::fabs(g - want[i]) <= 2e-5 + 1e-8 * n_pos);
        }
      }
  }
  cuda::DeviceBuffer dummy(4096);
  const float* p = dummy.as<float>();
  CHECK_THROWS_AS(cuda::attention(p, p, p, dummy.as<float>(), 1, 0, 6, 4, 64, 0.125f, 0, stream), std::invalid_argument);
  CHECK_THROWS_AS(cuda::attention(p, p, p, dummy.as<float>(), 1, 0, 4, 4, 512, 0.125f, 0, stream), std::invalid_argument);
  CHECK_THROWS_AS(cuda::attention(p, p, p, dummy.as<float>(), 1, 0, 4, 4, 64, 0.125f, -1, stream), std::invalid_argument);
  CHECK_THROWS_AS(cuda::attention(p, p, p, dummy.as<float>(), 1, 0, 4, 4, 64, 0.0f, 0, stream), std::invalid_argument);
}

// The F16 KV cache: to_f16 gives kernels/fp16.h's bits (round to nearest even: ties, the
// largest half, overflow to inf, subnormals, signed zero), and attention over half keys and
// values equals the CPU loop over the same halves widened (the widening is exact, so the
// bound is the F32 case's).
TEST_CASE("cuda kernels: to_f16 and attention over an F16 KV cache against kernels/fp16.h and attention_block's loop") {
  if (skip_without_kernels("the F16 KV cache kernels")) return;
  cuda::Stream stream;
  std::mt19937 rng(29);
  std::vector<float> x = random_floats(rng, 1000, -70000.0f, 70000.0f);
  for (float v : {0.0f, -0.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65504.0f, 65519.0f, 65520.0f, -1e9f, 0x1p-24f, 0x1p-25f,
                  0x1.8p-25f, 3e-6f, -5.9604645e-8f, INFINITY, -INFINITY})
    x.push_back(v);
  const auto small = random_floats(rng, 500, -1e-4f, 1e-4f);
  x.insert(x.end(), small.begin(), small.end());
  cuda::DeviceBuffer dx = cuda::DeviceBuffer::from_vector(x), dh(x.size() * sizeof(uint16_t));
  cuda::to_f16(dx.as<float>(), dh.as<uint16_t>(), static_cast<int64_t>(x.size()), stream);
  stream.synchronize();
  const auto h = dh.to_vector<uint16_t>();
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("x = " << x[i]);
    CHECK(h[i] == f32_to_fp16(x[i]));
  }

  struct Att {
    int n_heads, n_kv_heads, head_dim, pos0, B;
  };
  for (const Att& a : {Att{4, 2, 64, 0, 1}, Att{8, 8, 128, 7, 1}, Att{6, 1, 32, 300, 1}, Att{9, 3, 64, 10, 4}, Att{2, 1, 256, 64, 3}}) {
    const int hd = a.head_dim, kv = a.n_kv_heads * hd, d = a.n_heads * hd;
    const int n_cache = a.pos0 + a.B + 3;  // 3 positions past the last token: NaN, never read
    std::vector<uint16_t> kc(static_cast<size_t>(n_cache) * kv), vc(kc.size());
    for (size_t i = 0; i < kc.size(); ++i) {
      const bool past = i >= static_cast<size_t>(a.pos0 + a.B) * kv;
      kc[i] = past ? uint16_t{0x7E00} : f32_to_fp16(std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng));
      vc[i] = past ? uint16_t{0x7E00} : f32_to_fp16(std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng));
    }
    const auto q = random_floats(rng, static_cast<size_t>(a.B) * d, -1.0f, 1.0f);
    cuda::DeviceBuffer dq = cuda::DeviceBuffer::from_vector(q), dk = cuda::DeviceBuffer::from_vector(kc), dv = cuda::DeviceBuffer::from_vector(vc);
    cuda::DeviceBuffer dout(sizeof(float) * a.B * d);
    cuda::attention(dq.as<float>(), dk.as<uint16_t>(), dv.as<uint16_t>(), dout.as<float>(), a.B, a.pos0, a.n_heads, a.n_kv_heads, hd,
                    1.0f / std::sqrt(static_cast<float>(hd)), 0, stream);
    stream.synchronize();
    const auto got = dout.to_vector<float>();

    const int group = a.n_heads / a.n_kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    std::vector<float> k32(kc.size()), v32(vc.size());
    for (size_t i = 0; i < kc.size(); ++i) k32[i] = fp16_to_f32(kc[i]), v32[i] = fp16_to_f32(vc[i]);
    std::vector<float> scores(static_cast<size_t>(n_cache)), want(static_cast<size_t>(hd));
    for (int t = 0; t < a.B; ++t)
      for (int hh = 0; hh < a.n_heads; ++hh) {
        const int kvh = hh / group, n_pos = a.pos0 + t + 1;
        const float* qh = &q[static_cast<size_t>(t) * d + static_cast<size_t>(hh) * hd];
        for (int p = 0; p < n_pos; ++p) scores[p] = dot_f32(qh, &k32[static_cast<size_t>(p) * kv + kvh * hd], hd) * scale;
        softmax_inplace(scores.data(), n_pos);
        std::fill(want.begin(), want.end(), 0.0f);
        for (int p = 0; p < n_pos; ++p) axpy(scores[p], &v32[static_cast<size_t>(p) * kv + kvh * hd], want.data(), hd);
        for (int i = 0; i < hd; ++i) {
          const float g = got[static_cast<size_t>(t) * d + static_cast<size_t>(hh) * hd + i];
          INFO("heads " << a.n_heads << "/" << a.n_kv_heads << " dim " << hd << " pos " << a.pos0 + t << " head " << hh << " [" << i << "]");
          CHECK(std::fabs(g - want[i]) <= 2e-5 + 1e-8 * n_pos);
        }
      }
  }
  cuda::DeviceBuffer dummy(4096);
  const uint16_t* p = dummy.as<uint16_t>();
  CHECK_THROWS_AS(cuda::attention(dummy.as<float>(), p, p, dummy.as<float>(), 1, 0, 6, 4, 64, 0.125f, 0, stream), std::invalid_argument);
  CHECK_THROWS_AS(cuda::to_f16(dummy.as<float>(), dummy.as<uint16_t>(), -1, stream), std::invalid_argument);
}

// cuBLAS SGEMM Y = X W^T (+ beta Y): against a double reference; cuBLAS may split K, but any
// order of float additions stays within (K + 8) 2u sum|x w| (+ |beta y| rounding).
// Then the prefill path for quantized weights: dequantize_rows + sgemm_xwt against gemv.
TEST_CASE("cuda kernels: cuBLAS sgemm_xwt and the dequantize + SGEMM prefill path") {
  if (skip_without_kernels("cuBLAS")) {
    CHECK_THROWS_AS(cuda::Blas(), cuda::CudaError);
    std::string reason;
    CHECK_FALSE(cuda::blas_available(reason));
    CHECK_FALSE(reason.empty());
    return;
  }
  std::string reason;
  if (!cuda::blas_available(reason)) {
    ACTINFER_REPORT_SKIPPED("cuBLAS not usable: " << reason << " (skipped)");
    CHECK_THROWS_AS(cuda::Blas(), cuda::CudaError);
    return;
  }
  cuda::Stream stream;
  cuda::Blas blas;
  std::mt19937 rng(17);
  struct Gemm {
    int B, N, K;
  };
  for (const Gemm& g : {Gemm{1, 1, 1}, Gemm{5, 7, 3}, Gemm{17, 300, 128}, Gemm{64, 1024, 576}, Gemm{3, 50, 4096}})
    for (float beta : {0.0f, 1.0f}) {
      const auto x = random_floats(rng, static_cast<size_t>(g.B) * g.K, -1.0f, 1.0f);
      const auto w = random_floats(rng, static_cast<size_t>(g.N) * g.K, -1.0f, 1.0f);
      const auto y0 = random_floats(rng, static_cast<size_t>(g.B) * g.N, -1.0f, 1.0f);
      cuda::DeviceBuffer dx = cuda::DeviceBuffer::from_vector(x), dw = cuda::DeviceBuffer::from_vector(w), dy = cuda::DeviceBuffer::from_vector(y0);
      blas.sgemm_xwt(dx.as<float>(), dw.as<float>(), dy.as<float>(), g.B, g.N, g.K, stream, beta);
      stream.synchronize();
      const auto y = dy.to_vector<float>();
      for (int t = 0; t < g.B; ++t)
        for (int r = 0; r < g.N; ++r) {
          double s = beta * static_cast<double>(y0[static_cast<size_t>(t) * g.N + r]), mag = std::fabs(s);
          for (int k = 0; k < g.K; ++k) {
            const double term = static_cast<double>(x[static_cast<size_t>(t) * g.K + k]) * w[static_cast<size_t>(r) * g.K + k];
            s += term;
            mag += std::fabs(term);
          }
          INFO("sgemm B " << g.B << " N " << g.N << " K " << g.K << " beta " << beta << " [" << t << "][" << r << "]");
          CHECK(std::fabs(y[static_cast<size_t>(t) * g.N + r] - s) <= (g.K + 8) * kStepU2 * mag + 1e-30);
        }
    }

  // Prefill of a Q4_0 matrix: dequantize on the device, then SGEMM, against gemv token by token.
  const int B = 9, N = 257, K = 512;
  const size_t rb = static_cast<size_t>(row_bytes(GgmlType::Q4_0, K));
  const auto wq = random_rows(rng, GgmlType::Q4_0, N, K, rb, true);
  const auto x = random_floats(rng, static_cast<size_t>(B) * K, -1.0f, 1.0f);
  cuda::DeviceBuffer dwq = cuda::DeviceBuffer::from_vector(wq), dx = cuda::DeviceBuffer::from_vector(x);
  cuda::DeviceBuffer dwf(sizeof(float) * N * K), dy1(sizeof(float) * B * N), dy2(sizeof(float) * B * N);
  cuda::dequantize_rows(GgmlType::Q4_0, dwq.data(), rb, N, K, dwf.as<float>(), stream);
  blas.sgemm_xwt(dx.as<float>(), dwf.as<float>(), dy1.as<float>(), B, N, K, stream);
  cuda::gemv(GgmlType::Q4_0, dwq.data(), rb, N, K, dx.as<float>(), dy2.as<float>(), B, stream);
  stream.synchronize();
  const auto y1 = dy1.to_vector<float>(), y2 = dy2.to_vector<float>();
  for (int t = 0; t < B; ++t)
    for (int r = 0; r < N; ++r) {
      const RowRef ref = row_reference(GgmlType::Q4_0, wq.data() + r * rb, x.data() + t * K, K);
      CHECK(std::fabs(y1[static_cast<size_t>(t) * N + r] - y2[static_cast<size_t>(t) * N + r]) <= 2 * (K + 16) * kStepU2 * ref.mag + 1e-30);
    }
}
