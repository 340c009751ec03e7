#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/dequantize.h"
#include "kernels/elementwise.h"
#include "kernels/vec_dot.h"

namespace actinfer {

void QuantizedBatch::resize(GgmlType weight_type, int64_t n, int batch, bool exact) {
  weight_type_ = weight_type;
  n_ = n;
  batch_ = batch;
  exact_ = exact;
  const GgmlType act = exact ? GgmlType::F32 : activation_type_for(weight_type);
  // Keep rows 32-byte aligned for vector loads.
  stride_ = (static_cast<size_t>(row_bytes(act, n)) + 31) / 32 * 32;
  if (data_.size() < stride_ * static_cast<size_t>(batch)) data_.resize(stride_ * static_cast<size_t>(batch));
}

void QuantizedBatch::quantize(const float* x, int64_t x_stride, int t0, int t1) {
  for (int t = t0; t < t1; ++t) {
    const float* src = x + static_cast<int64_t>(t) * x_stride;
    std::byte* dst = data_.data() + static_cast<size_t>(t) * stride_;
    if (exact_) std::memcpy(dst, src, static_cast<size_t>(n_) * sizeof(float));
    else quantize_activation(weight_type_, src, dst, n_);
  }
}

namespace {
// Exact path: each weight row dequantized once, then dotted in float with every token.
void matmul_rows_exact(const WeightMatrix& w, const QuantizedBatch& x, float* y, int64_t y_stride, int64_t r0, int64_t r1) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = r0; r < r1; ++r) {
    dequantize_row(w.type, w.row(r), row.data(), w.cols);
    for (int t = 0; t < x.batch(); ++t)
      y[t * y_stride + r] = dot_f32(row.data(), reinterpret_cast<const float*>(x.row(t)), w.cols);
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
  if (x.batch() == 1) {
    vec_dot_rows(w.type, w.cols, w.row(r0), w.row_stride, r1 - r0, x.row(0), y + r0);
    return;
  }
  // Several tokens: the kernel walks the weights in row blocks that stay in L1
  // while every token is dotted with them, so each weight byte is read once.
  vec_dot_rows_multi(w.type, w.cols, w.row(r0), w.row_stride, r1 - r0, x.row(0), x.stride(), x.batch(), y + r0,
                     static_cast<size_t>(y_stride));
}

}  // namespace actinfer
