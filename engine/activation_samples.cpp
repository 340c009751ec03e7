#include "engine/activation_samples.h"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>

#include "kernels/dequantize.h"
#include "kernels/fp16.h"

namespace actinfer {

LayerSamples::LayerSamples(int d_model, int d_ff)
    : d_model_(d_model), d_ff_(d_ff), words_(static_cast<size_t>(d_ff + 63) / 64) {
  if (d_model < 1 || d_ff < 1)
    throw std::invalid_argument("samples need a positive shape, not " + std::to_string(d_model) + " x " + std::to_string(d_ff));
}

void LayerSamples::reserve(int64_t n) {
  x_.reserve(static_cast<size_t>(n) * static_cast<size_t>(d_model_));
  bits_.reserve(static_cast<size_t>(n) * words_);
}

void LayerSamples::add(const float* xn, const uint8_t* fired) {
  for (int k = 0; k < d_model_; ++k)  // saturate rather than overflow to inf
    x_.push_back(f32_to_fp16(std::clamp(xn[k], -65504.0f, 65504.0f)));
  const size_t base = bits_.size();
  bits_.resize(base + words_, 0);
  for (int i = 0; i < d_ff_; ++i)
    if (fired[i]) bits_[base + static_cast<size_t>(i) / 64] |= uint64_t{1} << (i % 64);
  ++n_;
}

void LayerSamples::input(int64_t t, float* out) const {
  dequantize_row(GgmlType::F16, x_.data() + static_cast<size_t>(t) * static_cast<size_t>(d_model_), out, d_model_);
}

int64_t LayerSamples::count_fired(int64_t begin, int64_t end) const {
  int64_t n = 0;
  for (size_t w = static_cast<size_t>(begin) * words_; w < static_cast<size_t>(end) * words_; ++w) n += std::popcount(bits_[w]);
  return n;
}

}  // namespace actinfer
