// The tiled GEMM of prompt batches (kernels/gemm_quant.h, used by matmul_rows): against the
// independent numpy dequantization of the PyPI gguf package (weight rows from
// tests/data/quant_vectors.bin with gguf's dequantized values), and against the per-token dot
// kernels on random rows of every shape that has tails (odd token counts, odd row counts).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/fp16.h"
#include "kernels/gemm_quant.h"
#include "kernels/ggml_type.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"
#include "kernels/quantize.h"
#include "kernels/vec_dot.h"
#include "kernels/vec_dot_avx2.h"
#include "tests/skip_report.h"
#include "tests/random_data.h"

using namespace actinfer;
using actinfer::testing::gaussian;
using actinfer::testing::set_extreme_codes;

namespace {

// Every weight type of the table: the tiled ones go through gemm_tiled, the rest through the
// per-token fallback of matmul_rows.
std::vector<GgmlType> weight_types() {
  std::vector<GgmlType> v;
  for (uint32_t id = 0; id < 64; ++id)
    if (const TypeTraits* t = find_type_traits(id); t != nullptr && t->weight) v.push_back(static_cast<GgmlType>(id));
  return v;
}

std::string name(GgmlType t) { return type_name(t); }

// The activation row as floats, dequantized here by its format's definition (d * q), not by
// the kernels under test.
std::vector<double> activation_values(GgmlType act, const std::byte* p, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  if (act == GgmlType::F32) {
    for (int64_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      v[static_cast<size_t>(i)] = f;
    }
    return v;
  }
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  const int64_t be = act == GgmlType::Q8_K ? 256 : 32;
  const int64_t bb = type_row(act).block_bytes;
  const int64_t qs = act == GgmlType::Q8_0 ? 2 : 4;
  for (int64_t b = 0; b < n / be; ++b) {
    const uint8_t* blk = u + b * bb;
    double d;
    if (act == GgmlType::Q8_K) {
      float f;
      std::memcpy(&f, blk, 4);
      d = f;
    } else {
      uint16_t h;
      std::memcpy(&h, blk, 2);
      d = fp16_to_f32(h);
    }
    for (int64_t i = 0; i < be; ++i) v[static_cast<size_t>(b * be + i)] = d * static_cast<int8_t>(blk[qs + i]);
  }
  return v;
}

// Bound of the Q8_1 s rounding (s = fp16(d * sum q) from the unrounded d) seen through the
// Q4_1 / Q5_1 minimum m: |sum_b m_b * (s_b - fp16(d_b) * sum q_b)|.
double s_rounding(GgmlType w, const uint8_t* row, const std::byte* act, int64_t n) {
  if (w != GgmlType::Q4_1 && w != GgmlType::Q5_1) return 0;
  double bound = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    uint16_t m;
    std::memcpy(&m, row + b * type_row(w).block_bytes + 2, 2);
    const auto* ab = reinterpret_cast<const block_q8_1*>(act) + b;
    int sum = 0;
    for (int8_t q : ab->qs) sum += q;
    auto err = [](double v) { return std::max(std::fabs(v) * 0x1p-11, 0x1p-25); };
    bound += std::fabs(fp16_to_f32(m)) * (err(fp16_to_f32(ab->s)) + err(fp16_to_f32(ab->d)) * std::abs(sum));
  }
  return bound;
}

struct Records {
  std::map<GgmlType, std::vector<uint8_t>> data;   // all blocks of the type's records
  std::map<GgmlType, std::vector<float>> values;  // gguf.quants.dequantize of them
};

Records read_records() {
  Records out;
  std::ifstream f(ACTINFER_SOURCE_DIR "/tests/data/quant_vectors.bin", std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "missing tests/data/quant_vectors.bin (run tests/reference/make_quant_vectors.py)");
  const std::vector<uint8_t> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t pos = 12;
  auto u32 = [&] {
    REQUIRE(pos + 4 <= buf.size());
    uint32_t v;
    std::memcpy(&v, buf.data() + pos, 4);
    pos += 4;
    return v;
  };
  REQUIRE(buf.size() >= 12);
  REQUIRE(std::memcmp(buf.data(), "AIQV", 4) == 0);
  uint32_t count;
  std::memcpy(&count, buf.data() + 8, 4);
  for (uint32_t i = 0; i < count; ++i) {
    const auto type = static_cast<GgmlType>(u32());
    const uint32_t kind = u32(), n = u32(), nbytes = u32();
    if (kind == 0) pos += 4 * static_cast<size_t>(n);
    REQUIRE(pos + nbytes + 4 * static_cast<size_t>(n) <= buf.size());
    auto& d = out.data[type];
    d.insert(d.end(), buf.begin() + static_cast<std::ptrdiff_t>(pos), buf.begin() + static_cast<std::ptrdiff_t>(pos + nbytes));
    pos += nbytes;
    auto& v = out.values[type];
    const size_t old = v.size();
    v.resize(old + n);
    std::memcpy(v.data() + old, buf.data() + pos, 4 * static_cast<size_t>(n));
    pos += 4 * static_cast<size_t>(n);
  }
  return out;
}

// y[t][r] for r < rows through matmul_rows (the engines' entry point), split into two row
// ranges as two threads would.
std::vector<float> matmul(const WeightMatrix& w, const std::vector<float>& x, int tokens, QuantizedBatch& q) {
  q.resize(w.type, w.cols, tokens);
  q.quantize(x.data(), 0, tokens);
  std::vector<float> y(static_cast<size_t>(w.rows * tokens), -7.0f);
  const int64_t mid = std::min<int64_t>(w.rows, 4);
  matmul_rows(w, q, y.data(), w.rows, 0, mid);
  matmul_rows(w, q, y.data(), w.rows, mid, w.rows);
  return y;
}

}  // namespace


TEST_CASE("gemm: the tiled path covers the quantized prompt types; float types have their own") {
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K,
                     GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS}) {
    CAPTURE(name(t));
    CHECK(has_tiled_gemm(t) == (ACTINFER_HAVE_AVX2_KERNELS != 0));
  }
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_1, GgmlType::Q8_K})
    CHECK_FALSE(has_tiled_gemm(t));
  // The float types have the blocked float GEMM instead (kernels/gemm_float.h).
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) CHECK(has_float_gemm(t) == (ACTINFER_HAVE_AVX2_KERNELS != 0));
  CHECK(gemm_tile_count(1) == 0);
  CHECK(gemm_tile_count(3) == 0);
  CHECK(gemm_tile_count(4) == 1);
  CHECK(gemm_tile_count(8) == 1);
  CHECK(gemm_tile_count(11) == 1);  // 8 tiled, 3 token by token
  CHECK(gemm_tile_count(12) == 2);  // the last tile padded
  CHECK(gemm_tile_count(64) == 8);
  if (!has_tiled_gemm(GgmlType::Q4_0)) return;
  QuantizedBatch q;
  // Beside lane-exact kernels: 16-token lanes only; AVX-512 VNNI builds pad a last one from 8.
  constexpr bool kWide = ACTINFER_HAVE_AVX512_GEMM != 0;
  CHECK(gemm_tiled_tokens_beside_lanes(1) == 0);
  CHECK(gemm_tiled_tokens_beside_lanes(15) == 0);
  CHECK(gemm_tiled_tokens_beside_lanes(16) == 16);
  CHECK(gemm_tiled_tokens_beside_lanes(23) == 16);
  CHECK(gemm_tiled_tokens_beside_lanes(24) == (kWide ? 24 : 16));
  CHECK(gemm_tiled_tokens_beside_lanes(64) == 64);
  const bool lanes = has_lane_exact_rows(GgmlType::Q4_0);
  for (auto [batch_size, tiled, padded, unpadded] : {std::tuple{1, 0, 0, 0}, {3, 0, 0, 0}, {4, 4, 0, 0}, {9, 8, 0, 0}, {12, 12, 0, 0},
                                                       {17, 16, 16, 16}, {40, 40, 40, 32}, {36, 36, 32, 32}, {64, 64, 64, 64}}) {
    const int batch = batch_size;  // a plain variable: clang 14 cannot capture structured bindings
    const int tiled_beside_lanes = kWide ? padded : unpadded;
    CAPTURE(batch);
    q.resize(GgmlType::Q4_0, 64, batch);
    CHECK(q.tiled_tokens() == (lanes ? tiled_beside_lanes : tiled));
    CHECK(q.lane_exact() == lanes);
    q.resize(GgmlType::Q4_0, 64, batch, false, BatchKernels::kBatchInvariant);
    CHECK(q.tiled_tokens() == (lanes ? tiled_beside_lanes : 0));
    CHECK(q.lane_exact() == lanes);
  }
  q.resize(GgmlType::Q4_0, 64, 16, /*exact=*/true);
  CHECK(q.tiled_tokens() == 0);
}

TEST_CASE("gemm: bad arguments are refused with a clear error") {
  alignas(32) std::byte buf[4096] = {};
  float out[64];
  CHECK_THROWS_WITH_AS(gemm_tiled(GgmlType::F32, 32, buf, 128, 1, buf, 1, out, 1), doctest::Contains("no tiled kernel for F32"),
                       std::invalid_argument);
  CHECK_THROWS_AS(gemm_prepare_tile(GgmlType::BF16, buf, 0, 1, 256, buf), std::invalid_argument);
  if (!has_tiled_gemm(GgmlType::Q4_0)) return;
  CHECK_THROWS_WITH_AS(gemm_tiled(GgmlType::Q4_0, 48, buf, 18, 1, buf, 1, out, 1), doctest::Contains("not a whole number of blocks"),
                       std::invalid_argument);
  CHECK_THROWS_AS(gemm_tiled(GgmlType::Q4_K, 32, buf, 144, 1, buf, 1, out, 1), std::invalid_argument);
  CHECK_THROWS_AS(gemm_prepare_tile(GgmlType::Q4_0, buf, 34, 9, 32, buf), std::invalid_argument);
  CHECK_THROWS_AS(gemm_prepare_tile(GgmlType::Q4_0, buf, 34, 0, 32, buf), std::invalid_argument);
  CHECK_THROWS_AS(gemm_prepare_tile(GgmlType::Q4_0, buf, 10, 2, 32, buf), std::invalid_argument);
  // A batch in tiles must be quantized in whole tiles (threads split it at multiples of 8).
  QuantizedBatch q;
  q.resize(GgmlType::Q4_0, 32, 16);
  std::vector<float> x(32 * 16, 1.0f);
  CHECK_THROWS_WITH_AS(q.quantize(x.data(), 0, 5), doctest::Contains("tiles of 8"), std::invalid_argument);
  CHECK_NOTHROW(q.quantize(x.data(), 0, 8));
  CHECK_NOTHROW(q.quantize(x.data(), 8, 16));
}

TEST_CASE("gemm: matmul_rows equals the product of gguf-dequantized weights, every weight type") {
  const Records rec = read_records();
  std::mt19937 rng(18);
  int checked = 0;
  for (GgmlType t : weight_types()) {
    const auto it = rec.data.find(t);
    if (it == rec.data.end()) continue;
    const std::vector<uint8_t>& all_data = it->second;
    const std::vector<float>& all_values = rec.values.at(t);
    const int64_t block = type_row(t).block_elems;
    // Rows of 2 blocks (K types) or 6 blocks, as many as the records hold, then odd counts
    // that repeat them.
    const int64_t n = block == 256 ? 512 : block == 1 ? 64 : 192;
    const size_t rb = static_cast<size_t>(row_bytes(t, n));
    // The records' rows whose values are all finite (the float types' hold inf and NaN too).
    std::vector<uint8_t> data;
    std::vector<float> values;
    for (size_t r = 0; r < all_values.size() / static_cast<size_t>(n); ++r) {
      const auto v0 = all_values.begin() + static_cast<std::ptrdiff_t>(r * static_cast<size_t>(n));
      if (!std::all_of(v0, v0 + n, [](float v) { return std::isfinite(v); })) continue;
      values.insert(values.end(), v0, v0 + n);
      data.insert(data.end(), all_data.begin() + static_cast<std::ptrdiff_t>(r * rb), all_data.begin() + static_cast<std::ptrdiff_t>((r + 1) * rb));
    }
    const int64_t have = static_cast<int64_t>(values.size()) / n;
    REQUIRE(have >= 1);
    for (int64_t rows : {int64_t{1}, int64_t{3}, int64_t{7}, int64_t{13}}) {
      std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) std::memcpy(w.data() + rb * static_cast<size_t>(r), data.data() + rb * static_cast<size_t>(r % have), rb);
      const WeightMatrix m{t, rows, n, reinterpret_cast<const std::byte*>(w.data()), rb};
      for (int tokens : {1, 3, 17, 64}) {
        CAPTURE(name(t));
        CAPTURE(rows);
        CAPTURE(tokens);
        // Activations at several magnitudes.
        std::vector<float> x(static_cast<size_t>(n * tokens));
        for (int k = 0; k < tokens; ++k) {
          const auto g = gaussian(rng, n, std::pow(10.0f, static_cast<float>(k % 5 - 2)));
          std::copy(g.begin(), g.end(), x.begin() + static_cast<std::ptrdiff_t>(k * n));
        }
        QuantizedBatch q;
        const std::vector<float> y = matmul(m, x, tokens, q);
        const GgmlType at = activation_type_for(t);
        int bad = 0;
        for (int k = 0; k < tokens; ++k) {
          std::vector<double> a = activation_values(at, q.row(k), n);
          // BF16 rows through the float GEMM's vdpbf16ps (kernels/gemm_float.h): tokens in BF16.
          if (q.float_gemm() && gemm_float_bf16_activations(t))
            for (double& v : a) v = bf16_to_f32(f32_to_bf16(static_cast<float>(v)));
          for (int64_t r = 0; r < rows; ++r) {
            const float* wv = values.data() + static_cast<size_t>((r % have) * n);
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < n; ++i) {
              exact += wv[i] * a[static_cast<size_t>(i)];
              mag += std::fabs(wv[i] * a[static_cast<size_t>(i)]);
            }
            const double got = y[static_cast<size_t>(k * rows + r)];
            const double tol = 2e-5 * mag + s_rounding(t, w.data() + rb * static_cast<size_t>(r), q.row(k), n) + 1e-30;
            if (!(std::fabs(got - exact) <= tol) && ++bad <= 3)
              MESSAGE("token " << k << " row " << r << ": " << got << " vs " << exact << " (tolerance " << tol << ")");
          }
        }
        CHECK(bad == 0);
        ++checked;
      }
    }
  }
  CHECK(checked >= 14 * 16);  // every type with records (all but F32)
}

TEST_CASE("gemm: tiled == per-token dots within float rounding, with tails of tokens and rows") {
  if (!has_tiled_gemm(GgmlType::Q4_0)) {
    ACTINFER_REPORT_SKIPPED("no AVX2 kernels in this build: the tiled GEMM is not compiled");
    return;
  }
  std::mt19937 rng(1818);
  for (GgmlType t : weight_types()) {
    if (!has_tiled_gemm(t)) continue;
    const GgmlType at = activation_type_for(t);
    const int64_t block = type_row(t).block_elems;
    for (int64_t n : block == 256 ? std::vector<int64_t>{256, 768} : std::vector<int64_t>{32, 96, 608}) {
      const size_t rb = static_cast<size_t>(row_bytes(t, n));
      const int64_t rows = 13;
      // Random quantized rows, extreme codes included (set_extreme_codes).
      std::vector<float> wf = gaussian(rng, n * rows);
      std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) quantize_row(t, wf.data() + r * n, w.data() + rb * static_cast<size_t>(r), n);
      set_extreme_codes(t, w.data() + 2 * rb);  // the first row computed below
      const size_t ab = static_cast<size_t>(row_bytes(at, n));
      for (int tokens : {1, 3, 4, 5, 8, 17, 64}) {
        CAPTURE(name(t));
        CAPTURE(n);
        CAPTURE(tokens);
        std::vector<std::byte> acts(ab * static_cast<size_t>(tokens));
        for (int k = 0; k < tokens; ++k) {
          const auto x = gaussian(rng, n, 3.0f);
          quantize_activation(t, x.data(), acts.data() + ab * static_cast<size_t>(k), n);
        }
        const int64_t n_tiles = (tokens + kGemmTileTokens - 1) / kGemmTileTokens;
        std::vector<std::byte> tiles(gemm_tile_bytes(n) * static_cast<size_t>(n_tiles) + 32);
        std::byte* t0 = tiles.data() + (32 - reinterpret_cast<uintptr_t>(tiles.data()) % 32) % 32;
        for (int64_t i = 0; i < n_tiles; ++i)
          gemm_prepare_tile(t, acts.data() + ab * static_cast<size_t>(i * kGemmTileTokens), ab,
                            static_cast<int>(std::min<int64_t>(kGemmTileTokens, tokens - i * kGemmTileTokens)), n,
                            t0 + gemm_tile_bytes(n) * static_cast<size_t>(i));
        // Rows [2, 13) into an output with a wider stride: 11 rows, a tail of 3 past the 4-row tiles.
        const size_t os = rows + 5;
        std::vector<float> out(os * static_cast<size_t>(tokens), -7.0f);
        gemm_tiled(t, n, w.data() + 2 * rb, rb, rows - 2, t0, tokens, out.data() + 2, os);
        int bad = 0;
        for (int k = 0; k < tokens; ++k) {
          std::vector<float> one(static_cast<size_t>(rows));
          vec_dot_rows(t, n, w.data(), rb, rows, acts.data() + ab * static_cast<size_t>(k), one.data());
          const std::vector<double> a = activation_values(at, acts.data() + ab * static_cast<size_t>(k), n);
          for (int64_t r = 0; r < static_cast<int64_t>(os); ++r) {
            const float got = out[static_cast<size_t>(k) * os + static_cast<size_t>(r)];
            if (r < 2 || r >= rows) {  // untouched
              bad += got != -7.0f;
              continue;
            }
            std::vector<float> wv(static_cast<size_t>(n));
            dequantize_row(t, w.data() + rb * static_cast<size_t>(r), wv.data(), n);
            double mag = 0;
            for (int64_t i = 0; i < n; ++i) mag += std::fabs(wv[static_cast<size_t>(i)] * a[static_cast<size_t>(i)]);
            const double tol = 1e-5 * mag + 1e-30;  // the same s for both paths
            if (!(std::fabs(got - one[static_cast<size_t>(r)]) <= tol) && ++bad <= 3)
              MESSAGE("token " << k << " row " << r << ": tiled " << got << " per-token " << one[static_cast<size_t>(r)]);
          }
        }
        CHECK(bad == 0);
      }
    }
  }
}
