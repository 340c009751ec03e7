// fp16 / bf16 conversions: known bit patterns, rounding ties, round trips, and the portable
// fallback against the F16C instructions.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "kernels/fp16.h"

using namespace actinfer;

namespace {

float f_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

}  // namespace

TEST_CASE("kernels: fp16 known bit patterns") {
  struct Case {
    uint16_t h;
    float f;
  };
  const Case cases[] = {
      {0x0000, 0.0f},          {0x8000, -0.0f},         {0x3C00, 1.0f},
      {0xC000, -2.0f},         {0x3800, 0.5f},          {0x3555, 0.333251953125f},
      {0x7BFF, 65504.0f},      {0x0400, 6.103515625e-05f} /* 2^-14 */,
      {0x0001, 5.9604644775390625e-08f} /* 2^-24 */,    {0x03FF, 6.097555160522461e-05f},
      {0x3C01, 1.0009765625f}, {0x2E66, 0.0999755859375f},
  };
  for (const Case& c : cases) {
    CAPTURE(c.h);
    CHECK(bits_of(fp16_to_f32(c.h)) == bits_of(c.f));
    CHECK(f32_to_fp16(c.f) == c.h);
    CHECK(bits_of(fp16_detail::fp16_to_f32_portable(c.h)) == bits_of(c.f));
    CHECK(fp16_detail::f32_to_fp16_portable(c.f) == c.h);
  }
  CHECK(fp16_to_f32(0x7C00) == std::numeric_limits<float>::infinity());
  CHECK(fp16_to_f32(0xFC00) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(fp16_to_f32(0x7E00)));
  CHECK(std::isnan(fp16_to_f32(0x7C01)));
  CHECK(f32_to_fp16(std::numeric_limits<float>::infinity()) == 0x7C00);
  CHECK((f32_to_fp16(std::numeric_limits<float>::quiet_NaN()) & 0x7FFF) > 0x7C00);
}

TEST_CASE("kernels: fp16 rounding is to nearest, ties to even") {
  auto both = [](float f) {
    const uint16_t h = f32_to_fp16(f);
    CHECK(fp16_detail::f32_to_fp16_portable(f) == h);
    return h;
  };
  CHECK(both(0.1f) == 0x2E66);                               // 0.0999755859375 is the nearest
  CHECK(both(1.0f + 0x1p-11f) == 0x3C00);                    // tie -> even (down)
  CHECK(both(1.0f + 3 * 0x1p-11f) == 0x3C02);                // tie -> even (up)
  CHECK(both(1.0f + 0x1p-11f + 0x1p-20f) == 0x3C01);         // just above the tie
  CHECK(both(65519.0f) == 0x7BFF);                           // below the tie with 65536
  CHECK(both(65520.0f) == 0x7C00);                           // tie -> even = inf
  CHECK(both(1e6f) == 0x7C00);
  CHECK(both(-1e6f) == 0xFC00);
  CHECK(both(0x1p-25f) == 0x0000);                           // tie between 0 and 2^-24 -> 0
  CHECK(both(-0x1p-25f) == 0x8000);
  CHECK(both(3 * 0x1p-26f) == 0x0001);                       // 0.75 of the smallest subnormal
  CHECK(both(3 * 0x1p-25f) == 0x0002);                       // 1.5 -> tie -> even (2)
  CHECK(both(0x1p-14f - 0x1p-25f) == 0x0400);                // rounds up into the normal range
  CHECK(both(1e-10f) == 0x0000);
}

TEST_CASE("kernels: fp16 exhaustive round trip and portable == hardware") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    const float p = fp16_detail::fp16_to_f32_portable(static_cast<uint16_t>(h));
    const bool nan = ((h & 0x7C00) == 0x7C00) && (h & 0x3FF);
    if (nan) {
      REQUIRE(std::isnan(f));
      REQUIRE(std::isnan(p));
    } else {
      REQUIRE(bits_of(f) == bits_of(p));
      REQUIRE(f32_to_fp16(f) == h);  // every half is exactly representable as a float
      REQUIRE(fp16_detail::f32_to_fp16_portable(f) == h);
    }
#if defined(__F16C__)
    REQUIRE(bits_of(f) == bits_of(p));  // NaNs too: both quiet the NaN the same way
#endif
  }
}

TEST_CASE("kernels: fp16 portable conversion matches the hardware on a sweep of floats") {
  std::mt19937 rng(7);
  int checked = 0;
  for (uint64_t u = 0; u < (1ull << 32); u += 65521) {  // every exponent, many mantissas
    const float f = f_from_bits(static_cast<uint32_t>(u));
    const uint16_t p = fp16_detail::f32_to_fp16_portable(f);
    const uint16_t h = f32_to_fp16(f);
    if (std::isnan(f)) {
      REQUIRE((p & 0x7FFF) > 0x7C00);
#if defined(__F16C__)
      REQUIRE(p == h);
#endif
    } else {
      REQUIRE(p == h);
      // Nearest: no other half is closer.
      const float back = fp16_to_f32(h);
      if (std::isfinite(back) && h != 0x7BFF && h != 0xFBFF) {
        const float up = fp16_to_f32(static_cast<uint16_t>(h + 1));
        if (std::isfinite(up) && (h & 0x7FFF) != 0) CHECK(std::fabs(f - back) <= std::fabs(f - up));
      }
    }
    ++checked;
  }
  for (int i = 0; i < 200000; ++i) {
    const float f = f_from_bits(static_cast<uint32_t>(rng()));
    if (!std::isnan(f)) REQUIRE(fp16_detail::f32_to_fp16_portable(f) == f32_to_fp16(f));
  }
  CHECK(checked > 60000);
}

TEST_CASE("kernels: bf16 conversions") {
  CHECK(f32_to_bf16(1.0f) == 0x3F80);
  CHECK(f32_to_bf16(-2.0f) == 0xC000);
  CHECK(bf16_to_f32(0x3F80) == 1.0f);
  CHECK(bf16_to_f32(0x4049) == 3.140625f);
  CHECK(f32_to_bf16(3.14159265f) == 0x4049);
  CHECK(f32_to_bf16(f_from_bits(0x3F808000)) == 0x3F80);  // tie -> even (down)
  CHECK(f32_to_bf16(f_from_bits(0x3F818000)) == 0x3F82);  // tie -> even (up)
  CHECK(f32_to_bf16(f_from_bits(0x3F808001)) == 0x3F81);  // above the tie
  CHECK(f32_to_bf16(f_from_bits(0x7F7FFFFF)) == 0x7F80);  // FLT_MAX rounds to inf
  CHECK(f32_to_bf16(std::numeric_limits<float>::infinity()) == 0x7F80);
  CHECK(f32_to_bf16(f_from_bits(0x7FC00000)) == 0x7FC0);  // quiet NaN stays
  CHECK(f32_to_bf16(f_from_bits(0x7F800001)) == 0x7FC0);  // signalling NaN: quieted, not inf
  CHECK(f32_to_bf16(f_from_bits(0xFFFFFFFF)) == 0xFFFF);  // no carry out of a NaN
  CHECK(f32_to_bf16(f_from_bits(0x00000001)) == 0x0000);  // tiny subnormal rounds to 0
  CHECK(std::isnan(bf16_to_f32(0x7FC1)));
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (!std::isnan(f)) REQUIRE(f32_to_bf16(f) == h);
  }
}
