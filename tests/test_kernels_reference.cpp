// Cross-check against the independent numpy implementation of the PyPI gguf package:
// tests/data/quant_vectors.bin is written by tests/reference/make_quant_vectors.py (format
// documented there).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/ggml_type.h"
#include "kernels/quantize.h"

using namespace actinfer;

namespace {

struct Reader {
  std::vector<uint8_t> buf;
  size_t pos = 0;
  uint32_t u32() {
    REQUIRE(pos + 4 <= buf.size());
    uint32_t v;
    std::memcpy(&v, buf.data() + pos, 4);
    pos += 4;
    return v;
  }
  std::vector<float> floats(size_t n) {
    REQUIRE(pos + 4 * n <= buf.size());
    std::vector<float> v(n);
    std::memcpy(v.data(), buf.data() + pos, 4 * n);
    pos += 4 * n;
    return v;
  }
  std::vector<uint8_t> bytes(size_t n) {
    REQUIRE(pos + n <= buf.size());
    std::vector<uint8_t> v(buf.begin() + static_cast<std::ptrdiff_t>(pos),
                           buf.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
    return v;
  }
};

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Equal floats, bit for bit (so +0 != -0), except any NaN equals any NaN.
bool same_float(float a, float b) { return (std::isnan(a) && std::isnan(b)) || bits(a) == bits(b); }

}  // namespace

TEST_CASE("kernels: quantize_row / dequantize_row agree with the gguf Python package") {
  std::ifstream f(ACTINFER_SOURCE_DIR "/tests/data/quant_vectors.bin", std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "missing tests/data/quant_vectors.bin (run tests/reference/make_quant_vectors.py)");
  Reader r;
  r.buf.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  REQUIRE(r.buf.size() >= 12);
  REQUIRE(std::memcmp(r.buf.data(), "AIQV", 4) == 0);
  r.pos = 4;
  REQUIRE(r.u32() == 1);
  const uint32_t n_records = r.u32();
  CHECK(n_records >= 19);

  int quantize_records = 0, dequantize_records = 0;
  for (uint32_t i = 0; i < n_records; ++i) {
    const auto type = static_cast<GgmlType>(r.u32());
    const uint32_t kind = r.u32();
    const uint32_t n = r.u32();
    const uint32_t nbytes = r.u32();
    REQUIRE(kind <= 1);
    const std::vector<float> input = kind == 0 ? r.floats(n) : std::vector<float>();
    const std::vector<uint8_t> data = r.bytes(nbytes);
    const std::vector<float> expected = r.floats(n);
    CAPTURE(type_name(static_cast<uint32_t>(type)));
    CAPTURE(kind);
    REQUIRE(row_bytes(type, n) == static_cast<int64_t>(nbytes));

    // Dequantization: every path, bit for bit.
    std::vector<float> got(n), got_scalar(n);
    dequantize_row(type, data.data(), got.data(), n);
    scalar::dequantize_row(type, data.data(), got_scalar.data(), n);
    int bad = 0;
    for (uint32_t k = 0; k < n; ++k) {
      if (!same_float(got[k], expected[k]) || !same_float(got_scalar[k], expected[k])) {
        if (++bad <= 5)
          MESSAGE("element " << k << ": expected " << expected[k] << " got " << got[k] << " (scalar "
                             << got_scalar[k] << ")");
      }
    }
    CHECK(bad == 0);

    if (kind == 0 && type_row(type).quantize == nullptr) {
      MESSAGE("no quantizer for " << type_name(type) << " yet: its dequantization is checked, its quantization is not");
    } else if (kind == 0) {
      ++quantize_records;
      std::vector<uint8_t> q(nbytes);
      quantize_row(type, input.data(), q.data(), n);
      int bad_bytes = 0;
      for (uint32_t k = 0; k < nbytes; ++k) {
        if (q[k] != data[k] && ++bad_bytes <= 5)
          MESSAGE("byte " << k << ": gguf " << int(data[k]) << " ours " << int(q[k]));
      }
      CHECK(bad_bytes == 0);
    } else {
      ++dequantize_records;
    }
  }
  CHECK(r.pos == r.buf.size());
  CHECK(quantize_records >= 5);   // Q8_0, Q4_0, Q4_1, F16, BF16
  CHECK(dequantize_records >= 9);  // Q4_K, Q5_K, Q6_K, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, IQ4_XS
}
