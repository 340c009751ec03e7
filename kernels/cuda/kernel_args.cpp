#include "kernels/cuda/kernel_args.h"

#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

namespace actinfer::cuda::args {
namespace {

[[noreturn]] void bad(const char* fn, const std::string& what) { throw std::invalid_argument(std::string(fn) + ": " + what); }

std::string num(int64_t v) { return std::to_string(v); }
std::string type_id(GgmlType type) { return type_name(type); }

// "F32, F16, Q4_0, Q4_1, Q8_0": the weight types the kernels read, from the type table.
std::string cuda_type_names() {
  std::string s;
  for (uint32_t id = 0; id < 64; ++id)
    if (const TypeTraits* t = find_type_traits(id); t != nullptr && t->weight && t->cuda)
      s += (s.empty() ? "" : ", ") + std::string(t->name);
  return s;
}

// lo <= v <= hi, else "<name> <v> must be in lo..hi".
void in_range(const char* fn, const char* name, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) bad(fn, std::string(name) + " " + num(v) + " must be in " + num(lo) + ".." + num(hi));
}

}  // namespace

int type_block(GgmlType type) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(type));
  return t != nullptr && t->cuda && t->weight ? static_cast<int>(t->block_elems) : 0;
}

bool aligned(const void* p, size_t alignment) { return reinterpret_cast<uintptr_t>(p) % alignment == 0; }

RowKernel check_rows(const char* fn, GgmlType type, const void* w, size_t row_stride, int64_t n, const float* x) {
  const int block = type_block(type);
  if (block == 0) bad(fn, "weight type " + type_id(type) + " not supported (" + cuda_type_names() +
                               "; the cuda backend holds other types as F32)");
  if (n <= 0 || n > INT_MAX / 2 || n % block != 0)
    bad(fn, "row length " + num(n) + " must be a positive multiple of " + num(block) + " (type " + type_id(type) + ")");
  const size_t align = type == GgmlType::F32 || type == GgmlType::Q4_1 ? 4 : 2;
  if (!aligned(w, align) || row_stride % align != 0)
    bad(fn, "rows of type " + type_id(type) + " must be " + num(static_cast<int64_t>(align)) +
                "-byte aligned (pointer and stride); the stride is " + std::to_string(row_stride) + " bytes and the pointer " +
                (aligned(w, align) ? "is" : "is not") + " aligned");
  if (block == 32 && x != nullptr && !aligned(x, 16)) bad(fn, "x must be 16-byte aligned for quantized rows");
  if (type == GgmlType::F16) return aligned(w, 4) && row_stride % 4 == 0 && n % 2 == 0 ? RowKernel::F16 : RowKernel::F16Unaligned;
  return static_cast<RowKernel>(static_cast<int>(type));
}

RowKernel check_gemv(GgmlType type, const void* w, size_t row_stride, int64_t n_rows, int64_t n, const float* x, int B) {
  constexpr const char* fn = "cuda::gemv";
  const RowKernel variant = check_rows(fn, type, w, row_stride, n, x);
  in_range(fn, "n_rows", n_rows, 0, INT_MAX - kWarpsPerBlock);
  in_range(fn, "B", B, 0, kMaxGridY);
  return variant;
}

RowKernel check_dequantize_rows(GgmlType type, const void* w, size_t row_stride, int64_t n_rows, int64_t n) {
  constexpr const char* fn = "cuda::dequantize_rows";
  const RowKernel variant = check_rows(fn, type, w, row_stride, n, nullptr);
  in_range(fn, "n_rows", n_rows, 0, INT_MAX);
  return variant;
}

RowKernel check_sparse_gate_up(GgmlType type, const void* gate, const void* up, size_t row_stride, int64_t n,
                               int64_t n_active, const float* x) {
  constexpr const char* fn = "cuda::sparse_gate_up";
  RowKernel variant = check_rows(fn, type, up, row_stride, n, x);
  if (gate != nullptr && check_rows(fn, type, gate, row_stride, n, x) == RowKernel::F16Unaligned) variant = RowKernel::F16Unaligned;
  in_range(fn, "n_active", n_active, 0, INT_MAX - kWarpsPerBlock);
  return variant;
}

RowKernel check_sparse_down(GgmlType down_t_type, const void* down_t, size_t row_stride, int64_t d, int64_t n_active) {
  constexpr const char* fn = "cuda::sparse_down";
  if (down_t_type != GgmlType::F32 && down_t_type != GgmlType::F16 && down_t_type != GgmlType::Q8_0)
    bad(fn, "down^T type " + type_id(down_t_type) + " not supported (F32, F16, Q8_0)");
  const RowKernel variant = check_rows(fn, down_t_type, down_t, row_stride, d, nullptr);
  in_range(fn, "n_active", n_active, 0, INT_MAX);
  return variant;
}

void check_rms_norm(int64_t n, int B) {
  constexpr const char* fn = "cuda::rms_norm";
  in_range(fn, "n", n, 1, INT_MAX);
  in_range(fn, "B", B, 0, INT_MAX);
}

void check_rope(int B, int n_heads, int head_dim, int rope_dims, int pos0) {
  constexpr const char* fn = "cuda::rope_inplace";
  in_range(fn, "B", B, 0, INT_MAX);
  in_range(fn, "n_heads", n_heads, 1, INT_MAX);
  in_range(fn, "head_dim", head_dim, 1, INT_MAX);
  if (rope_dims < 0 || rope_dims > head_dim || rope_dims % 2 != 0)
    bad(fn, "rope_dims " + num(rope_dims) + " must be even and in 0..head_dim " + num(head_dim));
  in_range(fn, "pos0", pos0, 0, INT_MAX);
}

void check_attention(int B, int pos0, int n_heads, int n_kv_heads, int head_dim, float scale, int window) {
  constexpr const char* fn = "cuda::attention";
  in_range(fn, "B", B, 0, kMaxGridY);
  in_range(fn, "pos0", pos0, 0, INT_MAX);
  in_range(fn, "n_heads", n_heads, 1, INT_MAX);
  in_range(fn, "n_kv_heads", n_kv_heads, 1, INT_MAX);
  if (n_heads % n_kv_heads != 0) bad(fn, "n_heads " + num(n_heads) + " must be a multiple of n_kv_heads " + num(n_kv_heads));
  in_range(fn, "head_dim", head_dim, 1, kAttMaxHeadDim);
  if (!(scale > 0.0f) || !std::isfinite(scale)) bad(fn, "scale " + std::to_string(scale) + " must be positive and finite");
  in_range(fn, "window", window, 0, INT_MAX);
}

void check_pointwise(const char* fn, int64_t n, int B) {
  in_range(fn, "n", n, 0, INT64_MAX);
  in_range(fn, "B", B, 0, kMaxGridY);
}

void check_active_bits(int64_t n, int B) {
  constexpr const char* fn = "cuda::active_bits";
  check_pointwise(fn, n, B);
  const int64_t words = (n + 31) / 32;  // pointwise.h's bit_words
  if (B > 0 && words > INT_MAX) bad(fn, "n " + num(n) + " is too large (" + num(words) + " words of bits per token, at most " + num(INT_MAX) + ")");
}

int check_sgemm_xwt(int B, int N, int K, int ldy) {
  constexpr const char* fn = "Blas::sgemm_xwt";
  in_range(fn, "B", B, 0, INT_MAX);
  in_range(fn, "N", N, 0, INT_MAX);
  in_range(fn, "K", K, 0, INT_MAX);
  if (ldy == 0) ldy = N;
  if (ldy < N) bad(fn, "ldy " + num(ldy) + " is less than N " + num(N));
  return ldy;
}

void check_device_number(int device, int count) {
  if (device < 0 || device >= count)
    throw std::invalid_argument("CUDA device " + num(device) + " does not exist (this machine has " + num(count) +
                                (count == 1 ? " device)" : " devices)"));
}

}  // namespace actinfer::cuda::args
