// Weight and activation element types, numbered as GGUF numbers them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
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
  IQ4_NL = 20,
  IQ4_XS = 23,
  BF16 = 30,
};

struct TypeTraits {
  std::string_view name;
  int64_t block_elems;  // elements per block (1 for float types)
  int64_t block_bytes;  // bytes per block
};

// Traits of a type this engine can read; nullopt for any other GGUF type id.
std::optional<TypeTraits> type_traits(uint32_t type_id);
TypeTraits traits(GgmlType type);  // for a known type
std::string_view type_name(uint32_t type_id);  // "type 17" for unknown ids

// Bytes taken by n elements (n must be a multiple of the block size).
int64_t row_bytes(GgmlType type, int64_t n);

}  // namespace actinfer
