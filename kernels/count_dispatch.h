// Internal: a runtime count turned into a template argument, for kernels that keep one
// register accumulator per token (kernels/gemm_lane_rows_*.cpp).
#pragma once
#include <utility>

namespace actinfer::kernels {

// Calls f.template operator()<N>() with N = n for n in 1 .. kMax (kMax for larger n).
template <int kMax, class F>
inline void dispatch_count(int n, F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    const bool done = ((n == I + 1 && (f.template operator()<I + 1>(), true)) || ...);
    if (!done) f.template operator()<kMax>();
  }(std::make_integer_sequence<int, kMax>{});
}

}  // namespace actinfer::kernels
