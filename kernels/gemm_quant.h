// Tiled GEMM of quantized weight rows with a batch of activations (prompt tokens, or the
// sequences of a batched decode step): out[t][r] = vec_dot(weight, row r, activation t), equal
// to the per-token kernels of kernels/vec_dot.h up to float rounding (the integer block dots
// are the same; the float scales are applied and summed in another order).
//
// Usage, for activations quantized as quantize_activation(weight, ...) writes them:
//   if (has_tiled_gemm(weight)) {
//     tiles: gemm_tile_count(B) tiles of gemm_tile_bytes(n) bytes each, 32-byte aligned
//     gemm_prepare_tile(weight, acts + 8 * i * act_stride, act_stride, tokens in tile i, n, tile i)
//     gemm_tiled(weight, n, rows, row_stride, n_rows, tiles, gemm_tile_count(B) * 8 or fewer, out, out_stride)
//   }
// A tile holds kGemmTileTokens tokens re-laid so that one vector load holds the same 4
// elements of each of them; the kernel then keeps 2 rows x 16 tokens of accumulators in
// registers (one int32 lane per token, no horizontal sums), decodes each weight block once
// per 16 tokens and reads each tile once per 2 rows. Activation quants must lie in
// [-127, 127], as every quantizer here makes them (the int16 sums rely on it).
// Where the compiler targets AVX-512 F/BW/VL/VNNI (-march=native on such a host), every tiled
// type is served by kernels/gemm_quant_avx512.cpp instead: vpdpbusd on 16-token
// lanes (pairs of these tiles merged per call), the same exact integer block dots and the same
// float sequence per (row, token), so its results are bit-identical to the AVX2 kernel's.
// gemm_lane_exact_rows (kernels/gemm_lane_rows_avx512.cpp on AVX-512 VNNI builds, every tiled
// type; kernels/gemm_lane_rows_avx2.cpp on AVX2 builds, and on AVX-512 ones for calls of 1-4 tokens, the
// type table's lane_few_tokens, every tiled type) gives a token
// the same bits as its lane of gemm_tiled without a tile, so that a batch may be split between
// the two (serve: results independent of the batch). For one token it runs about as fast as
// the per-token kernels (vec_dot_rows_multi), for several much faster (it decodes each weight
// block once for up to 8 tokens); `actinfer bench-lane-rows` compares them. has_lane_exact_rows
// says where it exists. AVX-512 builds send calls of a few tokens through the AVX2 kernels (the
// same bits; up to twice as fast at one token on Zen 4).
// Types without a tiled kernel here (F32, F16, BF16, any type on a build without AVX2) report
// has_tiled_gemm false: callers use vec_dot_rows_multi.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/ggml_type.h"

namespace actinfer {

inline constexpr int kGemmTileTokens = 8;

// Whether rows of `weight` have a tiled kernel in this build (the type table's gemm column).
bool has_tiled_gemm(GgmlType weight);
// Bytes of one tile of activations of n elements (a multiple of 32; 32-byte multiple).
size_t gemm_tile_bytes(int64_t n);
// Tiles worth making for a batch of B tokens: whole tiles, plus a padded last one when it
// would hold at least 4 tokens (fewer are cheaper through the per-token kernels).
int64_t gemm_tile_count(int64_t batch);
// Lays out n_tokens (1..8) activations of n elements, act_stride bytes apart, quantized for
// `weight`, into one tile (gemm_tile_bytes(n) bytes, 32-byte aligned). Throws
// std::invalid_argument when the type has no tiled kernel or the arguments do not fit.
void gemm_prepare_tile(GgmlType weight, const void* acts, size_t act_stride, int n_tokens, int64_t n, void* tile);
// out[t * out_stride + r] for r < n_rows, t < n_acts (at most 8 per tile given) from the tiles
// of those activations. Throws std::invalid_argument as above.
void gemm_tiled(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const void* tiles,
                int64_t n_acts, float* out, size_t out_stride);

// Per-token kernels bit-identical to a lane of gemm_tiled: out[t * out_stride + r] for
// r < n_rows, t < n_acts (1..8 is their range; any count works), from activations quantized
// as quantize_activation(weight, ...) writes them, act_stride bytes apart.
bool has_lane_exact_rows(GgmlType weight);
// Of a batch of B tokens, how many to lay out in tiles when the rest goes through the
// lane-exact kernels: none below 16 (the lane-exact kernels are faster: bench-matmul, Q4_1
// 576 x 1536, 8 tokens 51 us, 12 about 70, a 16-token tile 100), else whole 16-token lanes of
// the AVX-512 kernel, and a last partial one when it holds 8+ tokens (a further lane costs
// about 50 us there: 24 tokens in 16 + 8 lane-exact 164 us, in 32 padded 152). AVX2 builds:
// whole 16-token pairs of tiles, never a padded one.
int64_t gemm_tiled_tokens_beside_lanes(int64_t batch);
void gemm_lane_exact_rows(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                          const void* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride);

}  // namespace actinfer
