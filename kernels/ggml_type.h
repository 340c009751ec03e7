// Weight and activation element types, numbered as GGUF numbers them, and the table of
// their traits: sizes, and for the types this engine reads, the kernels that read them.
// Adding a type is one row in kernels/ggml_type.cpp (plus its kernels).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace actinfer {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

// n is always an element count (a whole number of blocks; callers check).
using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);
// Dot of one weight row with an activation of the type's vec_dot_type.
using VecDotFn = float (*)(const void* w_row, const void* act, int64_t n);
// vec_dot_rows_multi of kernels/vec_dot.h, arguments already validated.
using VecDotRowsFn = void (*)(int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const void* acts,
                              size_t act_stride, int64_t n_acts, float* out, size_t out_stride);
// The tiled GEMM of kernels/gemm_quant.h (gemm_tiled), arguments already validated.
using GemmFn = void (*)(int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const void* tiles,
                        int64_t n_acts, float* out, size_t out_stride);
// gemm_prepare_tile of kernels/gemm_quant.h for activations of this type, arguments validated.
using GemmPrepareFn = void (*)(const void* acts, size_t act_stride, int n_tokens, int64_t n, void* tile);

struct TypeTraits {
  std::string_view name;
  int64_t block_elems = 0;  // elements per block (1 for plain number types)
  int64_t block_bytes = 0;  // bytes per block
  // What this engine can do with the type (null: it cannot).
  DequantizeFn dequantize = nullptr;       // portable reference (bit-exact against PyPI gguf)
  DequantizeFn dequantize_fast = nullptr;  // AVX2 where compiled (same bits), else null
  QuantizeFn quantize = nullptr;           // reference quantizer (kernels/quantize.h)
  QuantizeFn quantize_fast = nullptr;      // vectorised, same bytes (activation types)
  bool weight = false;                     // rows of it can be model weights (the fields below apply)
  GgmlType vec_dot_type = GgmlType::F32;   // the activation type rows of it are dotted with
  VecDotFn vec_dot = nullptr;              // portable row dot
  VecDotRowsFn vec_dot_rows_fast = nullptr;  // AVX2 rows x activations, else null
  GemmFn gemm = nullptr;                   // AVX2 tiled GEMM over batches of 8 tokens, else null
  GgmlType down_t_type = GgmlType::F32;    // storage of transposed down columns (engine/neuron_bundles.h)
  bool cuda = false;                       // the cuda backend's kernels read rows of it
  uint32_t llama_file_type = 0;            // general.file_type of a file mostly of this type (weights)
  GemmPrepareFn gemm_prepare = nullptr;    // activation types: lays out tiles for the weights' gemm
  // Rows x activations bit-identical to a lane of `gemm` (gemm_lane_exact_rows of
  // kernels/gemm_quant.h), else null.
  VecDotRowsFn lane_rows = nullptr;
  // The same bits, for calls of at most lane_few_tokens tokens where set: the AVX2 kernels (8 rows
  // a register), which AVX-512 builds take there too, faster at 1-4 tokens on Zen 4 (docs/journal.md).
  VecDotRowsFn lane_rows_few = nullptr;
  int lane_few_tokens = 0;
};

// Traits of any type GGUF files may hold (sizes always; kernels for those this engine reads);
// nullopt for an id no ggml version assigned.
std::optional<TypeTraits> type_traits(uint32_t type_id);
// The same without the copy; nullptr for an unknown id.
const TypeTraits* find_type_traits(uint32_t type_id);
TypeTraits traits(GgmlType type);  // throws std::invalid_argument for an unknown id
const TypeTraits& type_row(GgmlType type);  // the same, by reference
// "Q5_0"; "type 99" for ids no ggml version assigned.
std::string type_name(uint32_t type_id);
inline std::string type_name(GgmlType type) { return type_name(static_cast<uint32_t>(type)); }
// The type named `name` (as type_name spells it, any case); nullopt for other names.
std::optional<GgmlType> type_from_name(std::string_view name);
// Whether rows of the type can be model weights here (read, dequantized and dotted).
bool is_weight_type(GgmlType type);
// "F32, F16, ..., IQ4_XS": the readable weight types, for messages.
std::string weight_type_names();

// Bytes taken by n elements (n must be a multiple of the block size).
int64_t row_bytes(GgmlType type, int64_t n);
// Blocks in n elements; `who` names the caller in the error when n is not a whole number of blocks.
int64_t blocks_of(GgmlType type, int64_t n, const char* who);

}  // namespace actinfer
