// Matrix x activation-batch products in the weights' own type: the float
// inputs are quantized once to the type the weight's dot product expects.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/gemm_float.h"
#include "kernels/gemm_quant.h"
#include "kernels/ggml_type.h"
#include "kernels/weight_matrix.h"

namespace actinfer {

// B activation vectors of n floats, quantized for dotting with rows of one weight type.
// Which kernels a batch of activations meets the weights with.
// kFastest: the tiled GEMM and the blocked float GEMM wherever they pay.
// kBatchInvariant: a token's results may not depend on the other tokens of its batch (the
// server's steps, where a sequence's neighbours come and go). Types with lane-exact per-token
// kernels (kernels/gemm_quant.h: every tiled type on AVX-512 VNNI builds; on AVX2 the 32-element
// block types, Q4_K and Q5_K) still use tiles, the remaining tokens and
// single tokens going through the lane-exact kernels, which give a tile lane's bits; other
// types send every token through the per-token kernels.
// With lane-exact kernels both modes split a batch the same way (those kernels are the fastest
// choice below 16 tokens too), so `run` and the server agree bit for bit; the modes differ for
// float weights (blocked float GEMM) and on builds without lane-exact kernels.
enum class BatchKernels { kFastest, kBatchInvariant };

class QuantizedBatch {
 public:
  // exact: keep the activations in float and dot them with dequantized weight rows
  // (slower; free of activation rounding, for checking against a float reference).
  // kernels: BatchKernels below.
  void resize(GgmlType weight_type, int64_t n, int batch, bool exact = false, BatchKernels kernels = BatchKernels::kFastest);
  // Quantizes tokens [t0, t1) of x (row-major [B][n]); call with the full range,
  // or split the range across threads after resize() at multiples of kTokenAlign (a tile of
  // the tiled GEMM is laid out by the call that quantizes its tokens; std::invalid_argument
  // otherwise).
  void quantize(const float* x, int t0, int t1) { quantize(x, n_, t0, t1); }
  // The same with token rows x_stride floats apart (a column range of a wider matrix).
  void quantize(const float* x, int64_t x_stride, int t0, int t1);
  static constexpr int kTokenAlign = kGemmTileTokens;
  const std::byte* row(int t) const { return data_.data() + static_cast<size_t>(t) * stride_; }
  GgmlType weight_type() const { return weight_type_; }
  int64_t n() const { return n_; }
  int batch() const { return batch_; }
  size_t stride() const { return stride_; }  // bytes between tokens' rows
  bool exact() const { return exact_; }
  // Tokens [0, tiled_tokens()) also sit in tiles for gemm_tiled (kernels/gemm_quant.h), for
  // weight types with a tiled kernel: whole 16-token lanes beside lane-exact kernels
  // (gemm_tiled_tokens_beside_lanes), else batches of 4+ tokens; the rest go token by token.
  int tiled_tokens() const { return tiled_tokens_; }
  const std::byte* tiles() const { return tiles_.data() + tile_offset_; }
  // Every token goes through the blocked float GEMM (kernels/gemm_float.h): float weight
  // types with at least kFloatGemmMinTokens tokens, tiled requested and not exact.
  bool float_gemm() const { return float_gemm_; }
  // The float GEMM's packed copy of the tokens (gemm_float_pack_tokens), made by quantize();
  // null where the build's kernel reads the rows.
  const float* float_gemm_tokens() const { return pack_float_tokens_ ? packed_.data() : nullptr; }
  // Tokens outside the tiles (and a single token) go through the lane-exact per-token kernels.
  bool lane_exact() const { return lane_exact_; }

 private:
  GgmlType weight_type_ = GgmlType::F32;
  int64_t n_ = 0;
  int batch_ = 0;
  bool exact_ = false;
  size_t stride_ = 0;
  std::vector<std::byte> data_;
  int tiled_tokens_ = 0;
  bool float_gemm_ = false;
  bool lane_exact_ = false;
  size_t tile_bytes_ = 0;
  size_t tile_offset_ = 0;  // to the first 32-byte aligned byte of tiles_
  std::vector<std::byte> tiles_;
  std::vector<float> packed_;  // float_gemm_tokens()
  bool pack_float_tokens_ = false;  // quantize() writes packed_
};

// y[t * y_stride + r] = w.row(r) . x_t for r in [r0, r1) and every token t of x: the float GEMM
// for batches that use it, else the tiled GEMM for the tokens in tiles, the per-token kernels
// for the rest.
void matmul_rows(const WeightMatrix& w, const QuantizedBatch& x, float* y, int64_t y_stride, int64_t r0, int64_t r1);

}  // namespace actinfer
