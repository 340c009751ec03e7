// Hand-made blocks with hand-computed values: block layouts, dequantization and dot products.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/fp16.h"
#include "kernels/ggml_type.h"
#include "kernels/quant_blocks.h"
#include "kernels/quantize.h"
#include "kernels/vec_dot.h"

using namespace actinfer;

namespace {

// Both dequantization paths must give exactly `expected`.
void check_dequant(GgmlType type, const void* blk, const std::vector<float>& expected) {
  const auto n = static_cast<int64_t>(expected.size());
  std::vector<float> got(expected.size()), got_scalar(expected.size());
  dequantize_row(type, blk, got.data(), n);
  scalar::dequantize_row(type, blk, got_scalar.data(), n);
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == expected[i]);
    CHECK(got_scalar[i] == expected[i]);
  }
}

// Both dot paths, and vec_dot_rows over 1..5 copies of the row, must give `expected`
// (all the hand-made values are exact in float).
template <class W>
void check_dot(GgmlType type, int64_t n, const W& w, const void* act, float expected) {
  CHECK(vec_dot(type, n, &w, act) == expected);
  CHECK(scalar::vec_dot(type, n, &w, act) == expected);
  for (int rows = 1; rows <= 5; ++rows) {
    std::vector<W> ws(static_cast<size_t>(rows), w);
    std::vector<float> out(static_cast<size_t>(rows), -1.0f);
    vec_dot_rows(type, n, ws.data(), sizeof(W), rows, act, out.data());
    for (float v : out) CHECK(v == expected);
  }
}

constexpr uint16_t kHalf1 = 0x3C00;     // 1.0
constexpr uint16_t kHalf05 = 0x3800;    // 0.5
constexpr uint16_t kHalf025 = 0x3400;   // 0.25
constexpr uint16_t kHalf0125 = 0x3000;  // 0.125
constexpr uint16_t kHalfM1 = 0xBC00;    // -1.0

// The hand-made Q4_K/Q5_K scales: sc = {1, 2, 3, 4, 17, 33, 50, 63},
// mins = {0, 1, 2, 3, 16, 20, 48, 5}, packed by hand following the layout comment in
// kernels/quant_blocks.h.
constexpr uint8_t kScalesK[12] = {0x41, 0x82, 0xC3, 0xC4, 0x40, 0x41, 0xC2, 0x03, 0x01, 0x41, 0x02, 0x5F};

}  // namespace

TEST_CASE("kernels: block sizes match GGUF") {
  CHECK(sizeof(block_q4_0) == 18);
  CHECK(sizeof(block_q4_1) == 20);
  CHECK(sizeof(block_q8_0) == 34);
  CHECK(sizeof(block_q8_1) == 36);
  CHECK(sizeof(block_q4_K) == 144);
  CHECK(sizeof(block_q5_K) == 176);
  CHECK(sizeof(block_q6_K) == 210);
  CHECK(sizeof(block_q8_K) == 292);
  CHECK(sizeof(block_q5_0) == 22);
  CHECK(sizeof(block_q5_1) == 24);
  CHECK(sizeof(block_q2_K) == 84);
  CHECK(sizeof(block_q3_K) == 110);
  CHECK(sizeof(block_iq4_nl) == 18);
  CHECK(sizeof(block_iq4_xs) == 136);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q4_K, GgmlType::Q5_K,
                     GgmlType::Q6_K, GgmlType::Q8_K, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K,
                     GgmlType::IQ4_NL, GgmlType::IQ4_XS})
    CHECK(row_bytes(t, 256) == 256 / traits(t).block_elems * traits(t).block_bytes);
}

TEST_CASE("kernels: K scale packing") {
  uint8_t sc[8], mn[8];
  unpack_scale_min_k4(kScalesK, sc, mn);
  const uint8_t want_sc[8] = {1, 2, 3, 4, 17, 33, 50, 63};
  const uint8_t want_mn[8] = {0, 1, 2, 3, 16, 20, 48, 5};
  for (int j = 0; j < 8; ++j) {
    CHECK(sc[j] == want_sc[j]);
    CHECK(mn[j] == want_mn[j]);
  }
  uint8_t packed[12];
  pack_scale_min_k4(want_sc, want_mn, packed);
  CHECK(std::memcmp(packed, kScalesK, 12) == 0);
}

TEST_CASE("kernels: hand-made Q4_0 block") {
  block_q4_0 b{};
  b.d = kHalf05;
  for (int i = 0; i < 16; ++i) b.qs[i] = static_cast<uint8_t>(i | ((15 - i) << 4));
  // low nibbles 0..15 -> 0.5*(q-8); high nibbles 15..0
  check_dequant(GgmlType::Q4_0, &b,
                {-4.0f, -3.5f, -3.0f, -2.5f, -2.0f, -1.5f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f,
                 3.5f, 3.0f, 2.5f, 2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -2.5f, -3.0f, -3.5f, -4.0f});
  // Activation of all 1.0 (d = 1, q = 1): the dot is the sum of the values, -8.
  block_q8_0 a{};
  a.d = kHalf1;
  for (auto& q : a.qs) q = 1;
  check_dot(GgmlType::Q4_0, 32, b, &a, -8.0f);
  // Activation 2.0 on element 0 (-4) and -1.0 on element 31 (-4): -8 + 4 = -4.
  std::memset(a.qs, 0, sizeof a.qs);
  a.qs[0] = 2;
  a.qs[31] = -1;
  check_dot(GgmlType::Q4_0, 32, b, &a, -4.0f);
}

TEST_CASE("kernels: hand-made Q4_1 block") {
  block_q4_1 b{};
  b.d = kHalf025;
  b.m = kHalfM1;
  for (int i = 0; i < 16; ++i) b.qs[i] = static_cast<uint8_t>(i | ((15 - i) << 4));
  check_dequant(GgmlType::Q4_1, &b,
                {-1.0f, -0.75f, -0.5f, -0.25f, 0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 1.75f, 2.0f, 2.25f, 2.5f, 2.75f,
                 2.75f, 2.5f, 2.25f, 2.0f, 1.75f, 1.5f, 1.25f, 1.0f, 0.75f, 0.5f, 0.25f, 0.0f, -0.25f, -0.5f, -0.75f, -1.0f});
  // Q8_1 activation of all 1.0: s = d * sum(q) = 32 (fp16 0x5000); dot = sum of values = 28.
  block_q8_1 a{};
  a.d = kHalf1;
  a.s = 0x5000;
  for (auto& q : a.qs) q = 1;
  check_dot(GgmlType::Q4_1, 32, b, &a, 28.0f);
}

TEST_CASE("kernels: hand-made Q8_0 block") {
  block_q8_0 b{};
  b.d = kHalf0125;
  for (int i = 0; i < 32; ++i) b.qs[i] = static_cast<int8_t>(i - 16);
  b.qs[31] = -128;  // valid in a file even though our quantizer never writes it
  std::vector<float> want;
  for (int i = 0; i < 31; ++i) want.push_back((i - 16) / 8.0f);  // -2.0, -1.875, ..., 1.75
  want.push_back(-16.0f);
  check_dequant(GgmlType::Q8_0, &b, want);
  // Activation d = 0.5, q = 2 (all 1.0): sum = (-16..14)/8 - 16 = -15/8*... computed:
  // sum_{i=0}^{30} (i-16)/8 = (465 - 496)/8 = -3.875; plus -16 -> -19.875.
  block_q8_0 a{};
  a.d = kHalf05;
  for (auto& q : a.qs) q = 2;
  check_dot(GgmlType::Q8_0, 32, b, &a, -19.875f);
  // Negative activations against the -128 weight: a = -127 * 0.5 on element 31 only.
  std::memset(a.qs, 0, sizeof a.qs);
  a.qs[31] = -127;
  check_dot(GgmlType::Q8_0, 32, b, &a, 1016.0f);  // -16 * -63.5
}

TEST_CASE("kernels: hand-made Q4_K block") {
  block_q4_K b{};
  b.d = kHalf1;
  b.dmin = kHalf05;
  std::memcpy(b.scales, kScalesK, 12);
  std::memset(b.qs, 0x37, sizeof b.qs);  // low nibble 7 (even sub-blocks), high nibble 3 (odd)
  b.qs[0] = 0xF0;                        // element 0: q = 0; element 32: q = 15
  // value = d*sc[j]*q - dmin*mn[j] per sub-block j of 32:
  const float per_sub[8] = {7.0f /*1*7-0*/,     5.5f /*2*3-0.5*/,  20.0f /*3*7-1*/,   10.5f /*4*3-1.5*/,
                            111.0f /*17*7-8*/, 89.0f /*33*3-10*/, 326.0f /*50*7-24*/, 186.5f /*63*3-2.5*/};
  std::vector<float> want;
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l) want.push_back(per_sub[j]);
  want[0] = 0.0f;    // 1*0 - 0
  want[32] = 29.5f;  // 2*15 - 0.5
  check_dequant(GgmlType::Q4_K, &b, want);
  // Q8_K activation of all 1.0: the sum of the values, 32 * 755.5 - 7 + 24 = 24193.
  block_q8_K a{};
  a.d = 1.0f;
  std::memset(a.qs, 1, sizeof a.qs);
  for (auto& s : a.bsums) s = 16;
  check_dot(GgmlType::Q4_K, 256, b, &a, 24193.0f);
}

TEST_CASE("kernels: hand-made Q5_K block") {
  block_q5_K b{};
  b.d = kHalf1;
  b.dmin = kHalf05;
  std::memcpy(b.scales, kScalesK, 12);
  std::memset(b.qs, 0x37, sizeof b.qs);
  std::memset(b.qh, 0xA5, sizeof b.qh);  // bits 0, 2, 5, 7: sub-blocks 0, 2, 5, 7 get +16
  const float per_sub[8] = {23.0f /*1*23*/,    5.5f,   68.0f /*3*23-1*/, 10.5f,
                            111.0f /*17*7-8*/, 617.0f /*33*19-10*/, 326.0f, 1194.5f /*63*19-2.5*/};
  std::vector<float> want;
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l) want.push_back(per_sub[j]);
  check_dequant(GgmlType::Q5_K, &b, want);
  block_q8_K a{};
  a.d = 0.5f;
  std::memset(a.qs, 2, sizeof a.qs);  // all 1.0
  for (auto& s : a.bsums) s = 32;
  // 32 * (23 + 5.5 + 68 + 10.5 + 111 + 617 + 326 + 1194.5) = 32 * 2355.5
  check_dot(GgmlType::Q5_K, 256, b, &a, 75376.0f);
}

TEST_CASE("kernels: hand-made Q6_K block") {
  block_q6_K b{};
  b.d = kHalf05;
  const int8_t sc[16] = {1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8};
  std::memcpy(b.scales, sc, 16);
  std::memset(b.ql, 0x21, sizeof b.ql);  // low nibble 1, high nibble 2
  std::memset(b.qh, 0xE4, sizeof b.qh);  // 2-bit fields 0, 1, 2, 3
  // Within each 128-element half, the 32-element quarter k has q - 32 =
  //   k=0: 1 + 0*16 - 32 = -31, k=1: 1 + 16 - 32 = -15, k=2: 2 + 32 - 32 = 2, k=3: 2 + 48 - 32 = 18
  // and value = 0.5 * sc[element / 16] * (q - 32):
  const float per16[16] = {-15.5f, 15.5f, -15.0f, 15.0f, 3.0f, -3.0f, 36.0f, -36.0f,
                           -77.5f, 77.5f, -45.0f, 45.0f, 7.0f, -7.0f, 72.0f, -72.0f};
  std::vector<float> want;
  for (int j = 0; j < 16; ++j)
    for (int l = 0; l < 16; ++l) want.push_back(per16[j]);
  check_dequant(GgmlType::Q6_K, &b, want);
  // Activation +1 on even groups of 16, -1 on odd ones:
  // 16 * (-31 - 30 + 6 + 72 - 155 - 90 + 14 + 144) = 16 * -70
  block_q8_K a{};
  a.d = 1.0f;
  for (int i = 0; i < 256; ++i) a.qs[i] = (i / 16) % 2 == 0 ? 1 : -1;
  for (int j = 0; j < 16; ++j) a.bsums[j] = j % 2 == 0 ? 16 : -16;
  check_dot(GgmlType::Q6_K, 256, b, &a, -1120.0f);
}

TEST_CASE("kernels: hand-made Q8_K, F16, BF16 rows") {
  block_q8_K k{};
  k.d = 0.25f;
  std::vector<float> want;
  for (int i = 0; i < 256; ++i) {
    k.qs[i] = static_cast<int8_t>(i - 128);
    want.push_back((i - 128) / 4.0f);
  }
  check_dequant(GgmlType::Q8_K, &k, want);

  const uint16_t h[4] = {0x3C00, 0xC000, 0x3800, 0x7BFF};  // 1, -2, 0.5, 65504
  check_dequant(GgmlType::F16, h, {1.0f, -2.0f, 0.5f, 65504.0f});
  const uint16_t bf[4] = {0x3F80, 0xC000, 0x3F00, 0x4049};  // 1, -2, 0.5, 3.140625
  check_dequant(GgmlType::BF16, bf, {1.0f, -2.0f, 0.5f, 3.140625f});
  const float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  CHECK(vec_dot(GgmlType::F16, 4, h, x) == 1.0f - 4.0f + 1.5f + 262016.0f);
  CHECK(vec_dot(GgmlType::BF16, 4, bf, x) == 1.0f - 4.0f + 1.5f + 12.5625f);
  const float w[4] = {0.5f, -1.0f, 2.0f, 0.25f};
  CHECK(vec_dot(GgmlType::F32, 4, w, x) == 0.5f - 2.0f + 6.0f + 1.0f);
  CHECK(scalar::vec_dot(GgmlType::F32, 4, w, x) == 5.5f);
}

TEST_CASE("kernels: activation types and argument errors") {
  CHECK(activation_type_for(GgmlType::F32) == GgmlType::F32);
  CHECK(activation_type_for(GgmlType::F16) == GgmlType::F32);
  CHECK(activation_type_for(GgmlType::BF16) == GgmlType::F32);
  CHECK(activation_type_for(GgmlType::Q8_0) == GgmlType::Q8_0);
  CHECK(activation_type_for(GgmlType::Q4_0) == GgmlType::Q8_0);
  CHECK(activation_type_for(GgmlType::Q4_1) == GgmlType::Q8_1);
  CHECK(activation_type_for(GgmlType::Q4_K) == GgmlType::Q8_K);
  CHECK(activation_type_for(GgmlType::Q5_K) == GgmlType::Q8_K);
  CHECK(activation_type_for(GgmlType::Q6_K) == GgmlType::Q8_K);
  CHECK_THROWS_AS(activation_type_for(GgmlType::Q8_K), std::invalid_argument);
  CHECK_THROWS_AS(activation_type_for(static_cast<GgmlType>(17)), std::invalid_argument);

  float buf[512] = {};
  uint8_t bytes[1024] = {};
  CHECK_THROWS_AS(dequantize_row(static_cast<GgmlType>(17), bytes, buf, 32), std::invalid_argument);
  CHECK_THROWS_AS(dequantize_row(GgmlType::Q4_0, bytes, buf, 33), std::invalid_argument);
  CHECK_THROWS_AS(scalar::dequantize_row(GgmlType::Q6_K, bytes, buf, 128), std::invalid_argument);
  CHECK_THROWS_AS(vec_dot(GgmlType::Q4_K, 128, bytes, bytes), std::invalid_argument);
  CHECK_THROWS_AS(vec_dot(GgmlType::Q8_1, 32, bytes, bytes), std::invalid_argument);
  CHECK_THROWS_AS(scalar::vec_dot(GgmlType::Q8_K, 256, bytes, bytes), std::invalid_argument);
  CHECK_THROWS_AS(quantize_activation(GgmlType::Q4_0, buf, bytes, 48), std::invalid_argument);
  float out[2];
  CHECK_THROWS_AS(vec_dot_rows(GgmlType::Q4_1, 40, bytes, 20, 2, bytes, out), std::invalid_argument);
  vec_dot_rows(GgmlType::Q4_1, 32, bytes, 20, 0, bytes, out);  // no rows: nothing to do
  // Empty rows: the dot is 0.
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1,
                     GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    CHECK(vec_dot(t, 0, bytes, bytes) == 0.0f);
    CHECK(scalar::vec_dot(t, 0, bytes, bytes) == 0.0f);
  }
  // F32 rows of any length are fine (no blocks).
  const float w[3] = {1, 2, 3}, x[3] = {4, 5, 6};
  CHECK(vec_dot(GgmlType::F32, 3, w, x) == 32.0f);
}

TEST_CASE("kernels: hand-computed quantization") {
  float x[32];
  // Q8_0: max |x| = 127 gives d = 1, and x = k + 0.5 rounds away from zero.
  for (int i = 0; i < 31; ++i) x[i] = static_cast<float>(i) - 15.5f;  // -15.5 .. 14.5
  x[31] = 127.0f;
  block_q8_0 q8{};
  quantize_row(GgmlType::Q8_0, x, &q8, 32);
  CHECK(q8.d == kHalf1);
  CHECK(q8.qs[0] == -16);   // -15.5
  CHECK(q8.qs[15] == -1);   // -0.5
  CHECK(q8.qs[16] == 1);    // 0.5
  CHECK(q8.qs[30] == 15);   // 14.5
  CHECK(q8.qs[31] == 127);
  block_q8_0 q8a{};
  quantize_activation(GgmlType::Q4_0, x, &q8a, 32);
  CHECK(std::memcmp(&q8, &q8a, sizeof q8) == 0);

  // Q8_1: the same plus s = d * sum(q) = (-16 - 15 ... -1) + (1 ... 15) + 127 = -16 + 127 = 111.
  block_q8_1 q81{};
  quantize_row(GgmlType::Q8_1, x, &q81, 32);
  CHECK(q81.d == kHalf1);
  CHECK(fp16_to_f32(q81.s) == 111.0f);

  // Q4_0: the extreme -8 gives d = -8 / -8 = 1; q = trunc(x + 8.5), so x = k - 8 gives q = k.
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i % 16) - 8.0f;
  block_q4_0 q40{};
  quantize_row(GgmlType::Q4_0, x, &q40, 32);
  CHECK(q40.d == kHalf1);
  for (int i = 0; i < 16; ++i) CHECK(q40.qs[i] == (i | (i << 4)));

  // Q4_1: min -3, max 12 gives d = 15 / 15 = 1, m = -3; q = trunc(x + 3 + 0.5).
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i % 16) - 3.0f;
  block_q4_1 q41{};
  quantize_row(GgmlType::Q4_1, x, &q41, 32);
  CHECK(q41.d == kHalf1);
  CHECK(q41.m == 0xC200);  // -3.0
  for (int i = 0; i < 16; ++i) CHECK(q41.qs[i] == (i | (i << 4)));

  // F16 / BF16 rows.
  const float f[3] = {1.0f, -2.0f, 0.1f};
  uint16_t h[3], bf[3];
  quantize_row(GgmlType::F16, f, h, 3);
  quantize_row(GgmlType::BF16, f, bf, 3);
  CHECK(h[0] == 0x3C00);
  CHECK(h[1] == 0xC000);
  CHECK(h[2] == 0x2E66);
  CHECK(bf[0] == 0x3F80);
  CHECK(bf[1] == 0xC000);
  CHECK(bf[2] == 0x3DCD);  // 0.1f = 0x3DCCCCCD rounds up

  // Q8_K: d = max|x| / 127 kept as a float; bsums are sums of 16.
  float y[256];
  for (int i = 0; i < 256; ++i) y[i] = static_cast<float>((i % 16) - 8);  // max |y| = 8
  y[255] = 127.0f;                                                      // d = 1
  block_q8_K q8k{};
  quantize_row(GgmlType::Q8_K, y, &q8k, 256);
  CHECK(q8k.d == 1.0f);
  CHECK(q8k.qs[0] == -8);
  CHECK(q8k.qs[255] == 127);
  CHECK(q8k.bsums[0] == -8);        // (-8 + ... + 7)
  CHECK(q8k.bsums[15] == -8 - 7 + 127);  // the last group's 7 became 127
}
