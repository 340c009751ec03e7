// The one UTF-8 fact both tokenizers need.
#pragma once
#include <cstddef>

namespace actinfer {

// Bytes of the UTF-8 sequence that starts with byte c (1 for a stray continuation
// byte or an invalid lead byte, so callers always make progress).
inline size_t utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

}  // namespace actinfer
