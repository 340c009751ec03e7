// Random inputs the kernel tests share: normal floats from a seeded generator, and the
// quantized codes no quantizer writes but a file may hold.
#pragma once
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/ggml_type.h"

namespace actinfer::testing {

inline std::vector<float> gaussian(std::mt19937& rng, int64_t n, float scale = 1.0f) {
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = g(rng);
  return v;
}

// Codes no quantizer writes but a file may hold, in the first block at w: the int8 and 6-bit
// extremes (-128), Q2_K's largest scales and mins, Q3_K's and IQ4_XS's zero scales.
inline void set_extreme_codes(GgmlType t, uint8_t* w) {
  if (t == GgmlType::Q8_0) w[2] = 0x80;
  if (t == GgmlType::Q6_K) w[192] = 0x80;
  if (t == GgmlType::Q2_K) w[0] = w[15] = 0xFF;
  if (t == GgmlType::Q3_K) std::memset(w + 96, 0, 12);
  if (t == GgmlType::IQ4_XS) std::memset(w + 2, 0, 6);
}

}  // namespace actinfer::testing
