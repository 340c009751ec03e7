#include "kernels/matmul.h"

#include <algorithm>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/dequantize.h"
#include "kernels/elementwise.h"
#include "kernels/vec_dot.h"

namespace actinfer {

void QuantizedBatch::resize(GgmlType weight_type, int64_t n, int batch, bool exact, BatchKernels kernels) {
  weight_type_ = weight_type;
  n_ = n;
  batch_ = batch;
  exact_ = exact;
  const GgmlType act = exact ? GgmlType::F32 : activation_type_for(weight_type);
  // Keep rows 32-byte aligned for vector loads.
  stride_ = (static_cast<size_t>(row_bytes(act, n)) + 31) / 32 * 32;
  if (data_.size() < stride_ * static_cast<size_t>(batch)) data_.resize(stride_ * static_cast<size_t>(batch));
  tiled_tokens_ = 0;
  const bool fastest = kernels == BatchKernels::kFastest;
  float_gemm_ = fastest && !exact && batch >= kFloatGemmMinTokens && has_float_gemm(weight_type);
  const size_t packed = float_gemm_ ? gemm_float_packed_floats(weight_type, n, batch) : 0;
  pack_float_tokens_ = packed > 0;
  if (packed_.size() < packed) packed_.resize(packed);
  // Where a type has lane-exact kernels they serve every batch size in both modes, so `run`
  // and the server give the same bits (and they are the fastest choice below 16 tokens).
  lane_exact_ = !exact && has_tiled_gemm(weight_type) && has_lane_exact_rows(weight_type);
  if ((fastest || lane_exact_) && !exact && batch > 1 && has_tiled_gemm(weight_type)) {
    tiled_tokens_ = static_cast<int>(lane_exact_ ? gemm_tiled_tokens_beside_lanes(batch)
                                                 : std::min<int64_t>(batch, gemm_tile_count(batch) * kGemmTileTokens));
    const int64_t n_tiles = (tiled_tokens_ + kGemmTileTokens - 1) / kGemmTileTokens;
    tile_bytes_ = gemm_tile_bytes(n);
    const size_t need = tile_bytes_ * static_cast<size_t>(n_tiles) + 32;
    if (tiles_.size() < need) tiles_.resize(need);
    tile_offset_ = (32 - reinterpret_cast<uintptr_t>(tiles_.data()) % 32) % 32;
  }
}

void QuantizedBatch::quantize(const float* x, int64_t x_stride, int t0, int t1) {
  if (tiled_tokens_ > 0 && (t0 % kTokenAlign != 0 || (t1 % kTokenAlign != 0 && t1 != batch_)))
    throw std::invalid_argument("QuantizedBatch::quantize: tokens [" + std::to_string(t0) + ", " + std::to_string(t1) +
                                ") do not start and end on tiles of " + std::to_string(kTokenAlign));
  for (int t = t0; t < t1; ++t) {
    const float* src = x + static_cast<int64_t>(t) * x_stride;
    std::byte* dst = data_.data() + static_cast<size_t>(t) * stride_;
    if (exact_) std::memcpy(dst, src, static_cast<size_t>(n_) * sizeof(float));
    else quantize_activation(weight_type_, src, dst, n_);
  }
  if (pack_float_tokens_)  // the same floats, in the GEMM's order: packed once for every thread and matrix
    gemm_float_pack_tokens(reinterpret_cast<const float*>(row(0)), stride_, batch_, n_, t0, t1, packed_.data());
  for (int t = t0; t < std::min(t1, tiled_tokens_); t += kGemmTileTokens) {
    const int nt = std::min(kGemmTileTokens, batch_ - t);
    std::byte* tile = tiles_.data() + tile_offset_ + static_cast<size_t>(t / kGemmTileTokens) * tile_bytes_;
    gemm_prepare_tile(weight_type_, row(t), stride_, nt, n_, tile);
  }
}

namespace {

#if defined(__AVX2__)
// Four rows dotted with one x at once: four independent accumulator chains (one
// dot_f32 is bound by the latency of its single chain), each summed in exactly
// dot_f32's order, so every result is bit-identical to dot_f32(row, x, n).
void dot4_f32(const float* rows, int64_t n, const float* x, float* out) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    for (int j = 0; j < 4; ++j) acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(rows + j * n + i), xv, acc[j]);
  }
  for (int j = 0; j < 4; ++j) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[j]), _mm256_extractf128_ps(acc[j], 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    float sum = _mm_cvtss_f32(s);
    for (int64_t k = i; k < n; ++k) sum += rows[j * n + k] * x[k];
    out[j] = sum;
  }
}
#endif

// Exact path: weight rows dequantized once (four at a time), then dotted in float
// with every token.
void matmul_rows_exact(const WeightMatrix& w, const QuantizedBatch& x, float* y, int64_t y_stride, int64_t r0, int64_t r1) {
  constexpr int64_t kRows = 4;
  std::vector<float> rows(static_cast<size_t>(kRows * w.cols));
  for (int64_t r = r0; r < r1; r += kRows) {
    const int64_t nr = std::min(kRows, r1 - r);
    for (int64_t j = 0; j < nr; ++j) dequantize_row(w.type, w.row(r + j), rows.data() + j * w.cols, w.cols);
    for (int t = 0; t < x.batch(); ++t) {
      const auto* xt = reinterpret_cast<const float*>(x.row(t));
      float* yt = y + t * y_stride + r;
#if defined(__AVX2__)
      if (nr == kRows) {
        dot4_f32(rows.data(), w.cols, xt, yt);
        continue;
      }
#endif
      for (int64_t j = 0; j < nr; ++j) yt[j] = dot_f32(rows.data() + j * w.cols, xt, w.cols);
    }
  }
}

}  // namespace

void matmul_rows(const WeightMatrix& w, const QuantizedBatch& x, float* y, int64_t y_stride, int64_t r0, int64_t r1) {
  if (x.weight_type() != w.type || x.n() != w.cols)
    throw std::invalid_argument("matmul: activation quantized for " + std::string(type_name(static_cast<uint32_t>(x.weight_type()))) +
                                " x " + std::to_string(x.n()) + ", weight is " +
                                std::string(type_name(static_cast<uint32_t>(w.type))) + " x " + std::to_string(w.cols));
  if (r0 >= r1) return;
  if (x.exact()) return matmul_rows_exact(w, x, y, y_stride, r0, r1);
  if (x.batch() == 1 && !x.lane_exact()) {
    vec_dot_rows(w.type, w.cols, w.row(r0), w.row_stride, r1 - r0, x.row(0), y + r0);
    return;
  }
  // Several tokens: tiles of 8 through the tiled GEMM; the rest (or all, for types without
  // one) through the per-token kernel, which walks the weights in row blocks that stay in L1
  // while every token is dotted with them, so each weight byte is read once.
  if (x.float_gemm()) {
    gemm_float(w.type, w.cols, w.row(r0), w.row_stride, r1 - r0, reinterpret_cast<const float*>(x.row(0)), x.stride(),
               x.batch(), y + r0, static_cast<size_t>(y_stride), x.float_gemm_tokens());
    return;
  }
  const int tiled = x.tiled_tokens();
  if (tiled > 0)
    gemm_tiled(w.type, w.cols, w.row(r0), w.row_stride, r1 - r0, x.tiles(), tiled, y + r0, static_cast<size_t>(y_stride));
  if (tiled < x.batch() && x.lane_exact())
    gemm_lane_exact_rows(w.type, w.cols, w.row(r0), w.row_stride, r1 - r0, x.row(tiled), x.stride(), x.batch() - tiled,
                         y + static_cast<int64_t>(tiled) * y_stride + r0, static_cast<size_t>(y_stride));
  else if (tiled < x.batch())
    vec_dot_rows_multi(w.type, w.cols, w.row(r0), w.row_stride, r1 - r0, x.row(tiled), x.stride(), x.batch() - tiled,
                       y + static_cast<int64_t>(tiled) * y_stride + r0, static_cast<size_t>(y_stride));
}

}  // namespace actinfer
