// unfused(x): x unchanged, but the compiler cannot fuse the multiply that produced it with
// a following add (-ffp-contract=fast would turn a*b+c into an fma and change the rounding
// that the reference quantizers, ggml's and gguf's numpy code, use).
#pragma once

namespace actinfer {

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

}  // namespace actinfer
