#include "kernels/ggml_type.h"

#include <stdexcept>
#include <string>

namespace actinfer {

std::optional<TypeTraits> type_traits(uint32_t type_id) {
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::F32: return TypeTraits{"F32", 1, 4};
    case GgmlType::F16: return TypeTraits{"F16", 1, 2};
    case GgmlType::BF16: return TypeTraits{"BF16", 1, 2};
    case GgmlType::Q4_0: return TypeTraits{"Q4_0", 32, 18};
    case GgmlType::Q4_1: return TypeTraits{"Q4_1", 32, 20};
    case GgmlType::Q8_0: return TypeTraits{"Q8_0", 32, 34};
    case GgmlType::Q8_1: return TypeTraits{"Q8_1", 32, 36};
    case GgmlType::Q4_K: return TypeTraits{"Q4_K", 256, 144};
    case GgmlType::Q5_K: return TypeTraits{"Q5_K", 256, 176};
    case GgmlType::Q6_K: return TypeTraits{"Q6_K", 256, 210};
    case GgmlType::Q8_K: return TypeTraits{"Q8_K", 256, 292};
    case GgmlType::Q5_0: return TypeTraits{"Q5_0", 32, 22};
    case GgmlType::Q5_1: return TypeTraits{"Q5_1", 32, 24};
    case GgmlType::Q2_K: return TypeTraits{"Q2_K", 256, 84};
    case GgmlType::Q3_K: return TypeTraits{"Q3_K", 256, 110};
    case GgmlType::IQ4_NL: return TypeTraits{"IQ4_NL", 32, 18};
    case GgmlType::IQ4_XS: return TypeTraits{"IQ4_XS", 256, 136};
  }
  return std::nullopt;
}

TypeTraits traits(GgmlType type) {
  auto t = type_traits(static_cast<uint32_t>(type));
  if (!t) throw std::invalid_argument("unknown tensor type " + std::to_string(static_cast<uint32_t>(type)));
  return *t;
}

std::string_view type_name(uint32_t type_id) {
  if (auto t = type_traits(type_id)) return t->name;
  return "unknown";
}

int64_t row_bytes(GgmlType type, int64_t n) {
  const TypeTraits t = traits(type);
  if (n % t.block_elems != 0)
    throw std::invalid_argument(std::string(t.name) + " row of " + std::to_string(n) +
                                " elements is not a multiple of its block size " +
                                std::to_string(t.block_elems));
  return n / t.block_elems * t.block_bytes;
}

}  // namespace actinfer
