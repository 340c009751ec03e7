#include "kernels/ggml_type.h"

#include <array>
#include <cctype>
#include <stdexcept>
#include <utility>

#include "kernels/ggml_quantizers.h"
#include "kernels/type_kernels.h"

namespace actinfer {
namespace {

using T = GgmlType;
namespace k = kernels;
namespace q = ggml_quant;  // the quantizers `actinfer quantize` writes files with (ggml's algorithms)

#if ACTINFER_HAVE_AVX2_KERNELS
#define AVX2(fn) k::fn
#else
#define AVX2(fn) nullptr
#endif
// The tiled GEMM of the types that have one: AVX-512 VNNI where compiled (same results).
#if ACTINFER_HAVE_AVX512_GEMM
#define GEMM512(name) k::name##_avx512
#else
#define GEMM512(name) AVX2(name##_avx2)
#endif

// A type GGUF files may hold that this engine does not read: its size only.
constexpr TypeTraits sized(std::string_view name, int64_t block_elems, int64_t block_bytes) {
  return TypeTraits{name, block_elems, block_bytes};
}

// A type whose rows can be model weights. down_t: the type transposed down columns are
// re-stored in (engine/neuron_bundles.h); cuda: the cuda kernels read it (others are held on
// the device as F32); ftype: llama.cpp's general.file_type for a file mostly of this type.
constexpr TypeTraits weight(std::string_view name, int64_t block_elems, int64_t block_bytes, DequantizeFn deq,
                            DequantizeFn deq_fast, QuantizeFn quant, GgmlType vec_dot_type, VecDotFn dot,
                            VecDotRowsFn rows_fast, GemmFn gemm, GgmlType down_t, bool cuda, uint32_t ftype) {
  return TypeTraits{name, block_elems, block_bytes, deq, deq_fast, quant, nullptr, true, vec_dot_type, dot, rows_fast,
                    gemm, down_t, cuda, ftype};
}

// An activation type: quantized float vectors that weight rows are dotted with.
constexpr TypeTraits activation(std::string_view name, int64_t block_elems, int64_t block_bytes, DequantizeFn deq,
                                QuantizeFn quant, QuantizeFn quant_fast, GemmPrepareFn gemm_prepare) {
  TypeTraits t{name, block_elems, block_bytes, deq, nullptr, quant, quant_fast};
  t.gemm_prepare = gemm_prepare;
  return t;
}

constexpr size_t kMaxId = 40;

// The table, indexed by GGUF type id (ids no ggml version assigned have an empty name).
// Sizes as ggml defines them (PyPI gguf's GGML_QUANT_SIZES).
constexpr std::array<TypeTraits, kMaxId> kTable = [] {
  std::array<TypeTraits, kMaxId> t{};
  auto set = [&t](GgmlType id, TypeTraits row) { t[static_cast<size_t>(id)] = row; };
  //            name    block bytes  dequantize          AVX2 dequantize            quantize          act     scalar dot        AVX2 rows                 AVX2 tiled GEMM (gemm_quant.h)  down^T  cuda   ftype
  set(T::F32,  weight("F32",    1,   4, k::dequantize_f32,  nullptr,                   k::quantize_f32,  T::F32,  k::vec_dot_f32,  AVX2(vec_dot_rows_f32_avx2), nullptr,  T::F32,  true,  0));
  set(T::F16,  weight("F16",    1,   2, k::dequantize_f16,  AVX2(dequantize_f16_avx2), k::quantize_f16,  T::F32,  k::vec_dot_f16,  AVX2(vec_dot_rows_f16_avx2), nullptr,  T::F16,  true,  1));
  set(T::BF16, weight("BF16",   1,   2, k::dequantize_bf16, AVX2(dequantize_bf16_avx2), k::quantize_bf16, T::F32, k::vec_dot_bf16, AVX2(vec_dot_rows_bf16_avx2), nullptr, T::F16,  false, 32));
  set(T::Q4_0, weight("Q4_0",  32,  18, k::dequantize_q4_0, AVX2(dequantize_q4_0_avx2), k::quantize_q4_0, T::Q8_0, k::vec_dot_q4_0, AVX2(vec_dot_rows_q4_0_avx2), GEMM512(gemm_q4_0), T::Q8_0, true,  2));
  set(T::Q4_1, weight("Q4_1",  32,  20, k::dequantize_q4_1, AVX2(dequantize_q4_1_avx2), k::quantize_q4_1, T::Q8_1, k::vec_dot_q4_1, AVX2(vec_dot_rows_q4_1_avx2), GEMM512(gemm_q4_1), T::Q8_0, true,  3));
  set(T::Q8_0, weight("Q8_0",  32,  34, k::dequantize_q8_0, AVX2(dequantize_q8_0_avx2), k::quantize_q8_0, T::Q8_0, k::vec_dot_q8_0, AVX2(vec_dot_rows_q8_0_avx2), GEMM512(gemm_q8_0), T::Q8_0, true,  7));
  set(T::Q4_K, weight("Q4_K", 256, 144, k::dequantize_q4_K, nullptr,                   q::quantize_q4_K, T::Q8_K, k::vec_dot_q4_K, AVX2(vec_dot_rows_q4_K_avx2), GEMM512(gemm_q4_K), T::Q8_0, false, 14));
  set(T::Q5_K, weight("Q5_K", 256, 176, k::dequantize_q5_K, nullptr,                   q::quantize_q5_K, T::Q8_K, k::vec_dot_q5_K, AVX2(vec_dot_rows_q5_K_avx2), GEMM512(gemm_q5_K), T::Q8_0, false, 16));
  set(T::Q6_K, weight("Q6_K", 256, 210, k::dequantize_q6_K, nullptr,                   q::quantize_q6_K, T::Q8_K, k::vec_dot_q6_K, AVX2(vec_dot_rows_q6_K_avx2), GEMM512(gemm_q6_K), T::Q8_0, false, 18));
  set(T::Q5_0, weight("Q5_0",  32,  22, k::dequantize_q5_0, nullptr,                   q::quantize_q5_0, T::Q8_0, k::vec_dot_q5_0, AVX2(vec_dot_rows_q5_0_avx2), GEMM512(gemm_q5_0), T::Q8_0, false, 8));
  set(T::Q5_1, weight("Q5_1",  32,  24, k::dequantize_q5_1, nullptr,                   q::quantize_q5_1, T::Q8_1, k::vec_dot_q5_1, AVX2(vec_dot_rows_q5_1_avx2), GEMM512(gemm_q5_1), T::Q8_0, false, 9));
  set(T::Q2_K, weight("Q2_K", 256,  84, k::dequantize_q2_K, nullptr,                   q::quantize_q2_K, T::Q8_K, k::vec_dot_q2_K, AVX2(vec_dot_rows_q2_K_avx2), GEMM512(gemm_q2_K), T::Q8_0, false, 10));
  set(T::Q3_K, weight("Q3_K", 256, 110, k::dequantize_q3_K, nullptr,                   q::quantize_q3_K, T::Q8_K, k::vec_dot_q3_K, AVX2(vec_dot_rows_q3_K_avx2), GEMM512(gemm_q3_K), T::Q8_0, false, 11));
  set(T::IQ4_NL, weight("IQ4_NL", 32, 18, k::dequantize_iq4_nl, nullptr,               q::quantize_iq4_nl,T::Q8_0, k::vec_dot_iq4_nl, AVX2(vec_dot_rows_iq4_nl_avx2), GEMM512(gemm_iq4_nl), T::Q8_0, false, 25));
  set(T::IQ4_XS, weight("IQ4_XS", 256, 136, k::dequantize_iq4_xs, nullptr,             q::quantize_iq4_xs,T::Q8_K, k::vec_dot_iq4_xs, AVX2(vec_dot_rows_iq4_xs_avx2), GEMM512(gemm_iq4_xs), T::Q8_0, false, 30));
  //                     name  block bytes  dequantize          quantize          vectorised quantize         GEMM tiles
  set(T::Q8_1, activation("Q8_1",  32,  36, k::dequantize_q8_1, k::quantize_q8_1, AVX2(quantize_q8_1_avx2), AVX2(gemm_prepare_q8_1_avx2)));
  set(T::Q8_K, activation("Q8_K", 256, 292, k::dequantize_q8_K, k::quantize_q8_K, AVX2(quantize_q8_K_avx2), AVX2(gemm_prepare_q8_K_avx2)));
  // Q8_0 is both a weight and an activation type.
  t[static_cast<size_t>(T::Q8_0)].quantize_fast = AVX2(quantize_q8_0_avx2);
  t[static_cast<size_t>(T::Q8_0)].gemm_prepare = AVX2(gemm_prepare_q8_0_avx2);
  // Per-token rows bit-identical to a lane of the tiled GEMM, every tiled type. The AVX2
  // kernels (8 rows a register) also serve AVX-512 builds' calls of up to `few` tokens: on Zen 4
  // (512-bit operations in two halves), one token from memory, the AVX-512 kernels' 16-row
  // transposes cost more than they save, 0.43-0.68x of the per-token dots against 0.69-1.7x for
  // the AVX2 ones; with more tokens the AVX-512 ones catch up (bench-lane-rows --cold, 2026-12-04:
  // Q3_K 2048 x 2048 at 4 tokens 271 us against the AVX2 kernel's 307, IQ4_XS at 2 186 against 219).
  struct Lane {
    T id;
    VecDotRowsFn fn;
    int few;
  };
#if ACTINFER_HAVE_AVX2_KERNELS
  for (auto [id, fn, few] : {Lane{T::Q4_0, &k::lane_rows_q4_0_avx2, 4}, Lane{T::Q4_1, &k::lane_rows_q4_1_avx2, 4},
                             Lane{T::Q5_0, &k::lane_rows_q5_0_avx2, 4}, Lane{T::Q5_1, &k::lane_rows_q5_1_avx2, 4},
                             Lane{T::Q8_0, &k::lane_rows_q8_0_avx2, 4}, Lane{T::IQ4_NL, &k::lane_rows_iq4_nl_avx2, 4},
                             Lane{T::Q4_K, &k::lane_rows_q4_K_avx2, 4}, Lane{T::Q5_K, &k::lane_rows_q5_K_avx2, 4},
                             Lane{T::Q2_K, &k::lane_rows_q2_K_avx2, 4}, Lane{T::Q3_K, &k::lane_rows_q3_K_avx2, 2},
                             Lane{T::Q6_K, &k::lane_rows_q6_K_avx2, 4}, Lane{T::IQ4_XS, &k::lane_rows_iq4_xs_avx2, 1}}) {
    TypeTraits& row = t[static_cast<size_t>(id)];
    row.lane_rows = row.lane_rows_few = fn;
    row.lane_few_tokens = few;
  }
#endif
#if ACTINFER_HAVE_AVX512_GEMM
  for (auto [id, fn] : {std::pair{T::Q4_0, &k::lane_rows_q4_0_avx512}, {T::Q4_1, &k::lane_rows_q4_1_avx512},
                        {T::Q5_0, &k::lane_rows_q5_0_avx512}, {T::Q5_1, &k::lane_rows_q5_1_avx512},
                        {T::Q8_0, &k::lane_rows_q8_0_avx512}, {T::IQ4_NL, &k::lane_rows_iq4_nl_avx512},
                        {T::Q4_K, &k::lane_rows_q4_K_avx512}, {T::Q5_K, &k::lane_rows_q5_K_avx512},
                        {T::Q2_K, &k::lane_rows_q2_K_avx512}, {T::Q3_K, &k::lane_rows_q3_K_avx512},
                        {T::Q6_K, &k::lane_rows_q6_K_avx512},
                        {T::IQ4_XS, &k::lane_rows_iq4_xs_avx512}})
    t[static_cast<size_t>(id)].lane_rows = fn;
#endif
  // Types GGUF files may hold that are not read here.
  set(T::IQ2_XXS, sized("IQ2_XXS", 256, 66));
  set(T::IQ2_XS, sized("IQ2_XS", 256, 74));
  set(T::IQ3_XXS, sized("IQ3_XXS", 256, 98));
  set(T::IQ1_S, sized("IQ1_S", 256, 50));
  set(T::IQ3_S, sized("IQ3_S", 256, 110));
  set(T::IQ2_S, sized("IQ2_S", 256, 82));
  set(T::I8, sized("I8", 1, 1));
  set(T::I16, sized("I16", 1, 2));
  set(T::I32, sized("I32", 1, 4));
  set(T::I64, sized("I64", 1, 8));
  set(T::F64, sized("F64", 1, 8));
  set(T::IQ1_M, sized("IQ1_M", 256, 56));
  set(T::TQ1_0, sized("TQ1_0", 256, 54));
  set(T::TQ2_0, sized("TQ2_0", 256, 66));
  set(T::MXFP4, sized("MXFP4", 32, 17));
  return t;
}();

#undef AVX2
#undef GEMM512

}  // namespace

const TypeTraits* find_type_traits(uint32_t type_id) {
  if (type_id >= kTable.size() || kTable[type_id].name.empty()) return nullptr;
  return &kTable[type_id];
}

std::optional<TypeTraits> type_traits(uint32_t type_id) {
  if (const TypeTraits* t = find_type_traits(type_id)) return *t;
  return std::nullopt;
}

const TypeTraits& type_row(GgmlType type) {
  if (const TypeTraits* t = find_type_traits(static_cast<uint32_t>(type))) return *t;
  throw std::invalid_argument("unknown tensor " + type_name(type));
}

TypeTraits traits(GgmlType type) { return type_row(type); }

std::string type_name(uint32_t type_id) {
  if (const TypeTraits* t = find_type_traits(type_id)) return std::string(t->name);
  return "type " + std::to_string(type_id);
}

std::optional<GgmlType> type_from_name(std::string_view name) {
  auto same = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
    return true;
  };
  for (size_t id = 0; id < kTable.size(); ++id)
    if (!kTable[id].name.empty() && same(kTable[id].name, name)) return static_cast<GgmlType>(id);
  return std::nullopt;
}

bool is_weight_type(GgmlType type) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(type));
  return t != nullptr && t->weight;
}

std::string weight_type_names() {
  std::string s;
  for (const TypeTraits& t : kTable)
    if (t.weight) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

int64_t blocks_of(GgmlType type, int64_t n, const char* who) {
  const TypeTraits& t = type_row(type);
  if (n < 0 || n % t.block_elems != 0)
    throw std::invalid_argument(std::string(who) + ": " + std::string(t.name) + " row of " + std::to_string(n) +
                                " elements is not a multiple of its block size");
  return n / t.block_elems;
}

int64_t row_bytes(GgmlType type, int64_t n) {
  const TypeTraits& t = type_row(type);
  if (n % t.block_elems != 0)
    throw std::invalid_argument(std::string(t.name) + " row of " + std::to_string(n) +
                                " elements is not a multiple of its block size " +
                                std::to_string(t.block_elems));
  return n / t.block_elems * t.block_bytes;
}

}  // namespace actinfer
