// Arithmetic the quantizers share, written once so every quantizer rounds alike.
#pragma once
#include <cmath>

namespace actinfer {

// unfused(x): x unchanged, but the compiler cannot fuse the multiply that produced it with
// a following add (-ffp-contract=fast would turn a*b+c into an fma and change the rounding
// that the reference quantizers, ggml's and gguf's numpy code, use).
inline float unfused(float x) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+x"(x));
#elif defined(__GNUC__) && defined(__aarch64__)
  __asm__("" : "+w"(x));
#else
  volatile float v = x;
  x = v;
#endif
  return x;
}

// The largest magnitude of x[0..n) and the signed value that has it (the first one on ties),
// as ggml's quantizers pick the scale that maps that value to the most negative level.
struct SignedAbsMax {
  float amax = 0, max = 0;
};
inline SignedAbsMax signed_absmax(const float* x, int n) {
  SignedAbsMax m;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > m.amax) {
      m.amax = std::fabs(x[i]);
      m.max = x[i];
    }
  return m;
}

}  // namespace actinfer
