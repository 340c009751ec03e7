#include "kernels/gemm_quant.h"

#include "kernels/vec_dot_avx2.h"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace actinfer {
namespace {

const TypeTraits& tiled_row(GgmlType weight, int64_t n, const char* who) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(weight));
  if (t == nullptr || t->gemm == nullptr)
    throw std::invalid_argument(std::string(who) + ": no tiled kernel for " + type_name(weight) + " rows");
  if (n <= 0 || n % 32 != 0 || n % t->block_elems != 0)
    throw std::invalid_argument(std::string(who) + ": " + type_name(weight) + " rows of " + std::to_string(n) +
                                " elements are not a whole number of blocks");
  return *t;
}

}  // namespace

bool has_tiled_gemm(GgmlType weight) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(weight));
  return t != nullptr && t->gemm != nullptr;
}

size_t gemm_tile_bytes(int64_t n) { return static_cast<size_t>(n / 32) * (8 * 32 + 5 * 32); }

int64_t gemm_tiled_tokens_beside_lanes(int64_t batch) {
  // Whole pairs of tiles (16 tokens: what both tile kernels do best); AVX-512 pads a last pair
  // from 8 tokens, AVX2 never (a lone AVX2 tile ran 8 tokens in 334 us, 8 lane-exact 130, a
  // pair 16 in 244: Q4_1 1536 x 576, bench-matmul).
  constexpr int64_t kLane = 2 * kGemmTileTokens;
  constexpr int64_t kPadFrom = ACTINFER_HAVE_AVX512_GEMM ? kGemmTileTokens : kLane;
  if (batch < kLane) return 0;
  const int64_t whole = batch / kLane * kLane;
  return batch - whole >= kPadFrom ? batch : whole;
}

int64_t gemm_tile_count(int64_t batch) {
  return batch / kGemmTileTokens + (batch % kGemmTileTokens >= kGemmTileTokens / 2 ? 1 : 0);
}

void gemm_prepare_tile(GgmlType weight, const void* acts, size_t act_stride, int n_tokens, int64_t n, void* tile) {
  const TypeTraits& t = tiled_row(weight, n, "gemm_prepare_tile");
  if (n_tokens < 1 || n_tokens > kGemmTileTokens)
    throw std::invalid_argument("gemm_prepare_tile: " + std::to_string(n_tokens) + " tokens (1.." +
                                std::to_string(kGemmTileTokens) + " per tile)");
  const GgmlType act = t.vec_dot_type;
  if (n_tokens > 1 && act_stride < static_cast<size_t>(row_bytes(act, n)))
    throw std::invalid_argument("gemm_prepare_tile: activation stride " + std::to_string(act_stride) +
                                " is shorter than a row");
  type_row(act).gemm_prepare(acts, act_stride, n_tokens, n, tile);
}

void gemm_tiled(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const void* tiles,
                int64_t n_acts, float* out, size_t out_stride) {
  const TypeTraits& t = tiled_row(weight, n, "gemm_tiled");
  if (n_rows <= 0 || n_acts <= 0) return;
  if (row_stride < static_cast<size_t>(row_bytes(weight, n)) || (n_acts > 1 && out_stride < static_cast<size_t>(n_rows)))
    throw std::invalid_argument("gemm_tiled: row or output stride shorter than a row");
  t.gemm(n, w_rows, row_stride, n_rows, tiles, n_acts, out, out_stride);
}

bool has_lane_exact_rows(GgmlType weight) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(weight));
  return t != nullptr && t->lane_rows != nullptr;
}

void gemm_lane_exact_rows(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                          const void* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride) {
  const char* who = "gemm_lane_exact_rows";
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(weight));
  if (t == nullptr || t->lane_rows == nullptr)
    throw std::invalid_argument(std::string(who) + ": no lane-exact kernel for " + type_name(weight) + " rows");
  tiled_row(weight, n, who);
  if (n_rows <= 0 || n_acts <= 0) return;
  if (row_stride < static_cast<size_t>(row_bytes(weight, n)) || (n_acts > 1 && out_stride < static_cast<size_t>(n_rows)))
    throw std::invalid_argument(std::string(who) + ": row or output stride shorter than a row");
  if (n_acts > 1 && act_stride < static_cast<size_t>(row_bytes(t->vec_dot_type, n)))
    throw std::invalid_argument(std::string(who) + ": activation stride " + std::to_string(act_stride) +
                                " is shorter than a row");
  // The kernels gather 16 rows' scales with 32-bit offsets.
  if (row_stride > static_cast<size_t>(INT32_MAX / 16))
    throw std::invalid_argument(std::string(who) + ": row stride " + std::to_string(row_stride) + " is too large");
  const VecDotRowsFn kernel = n_acts <= t->lane_few_tokens && t->lane_rows_few ? t->lane_rows_few : t->lane_rows;
  kernel(n, w_rows, row_stride, n_rows, acts, act_stride, n_acts, out, out_stride);
}

}  // namespace actinfer
