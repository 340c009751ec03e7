// The FMA peak measurement that bench judges prompt speed against: its arguments are
// checked, and it reports a rate for the threads and vector width it used.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

#include "kernels/compute_peak.h"

using namespace actinfer;

TEST_CASE("compute peak: bad arguments are refused") {
  CHECK_THROWS_AS(measure_fma_peak(0), std::invalid_argument);
  CHECK_THROWS_AS(measure_fma_peak(1, 0), std::invalid_argument);
  CHECK_THROWS_AS(measure_fma_peak(1, 1, 0), std::invalid_argument);
}

TEST_CASE("compute peak: a finite positive rate on the threads asked for, with the build's vector width") {
  const ComputePeakResult r = measure_fma_peak(2, 2, 1000);
  CHECK(r.threads == 2);
  CHECK(std::isfinite(r.flops_per_second));
  CHECK(r.flops_per_second > 0);
#if defined(__AVX512F__)
  CHECK(r.vector_floats == 16);
#elif defined(__AVX2__) && defined(__FMA__)
  CHECK(r.vector_floats == 8);
#else
  CHECK(r.vector_floats == 1);
#endif
}
