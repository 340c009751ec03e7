// A row-major matrix in its stored (possibly quantized) type, viewed in place.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/ggml_type.h"

namespace actinfer {

struct WeightMatrix {
  GgmlType type = GgmlType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  const std::byte* data = nullptr;
  size_t row_stride = 0;  // bytes per row
  const std::byte* row(int64_t r) const { return data + static_cast<size_t>(r) * row_stride; }
  size_t bytes() const { return row_stride * static_cast<size_t>(rows); }
};

}  // namespace actinfer
