// The CUDA toolchain and device: runs where a GPU exists, skips (saying why) elsewhere.
#include <doctest/doctest.h>
#include "tests/skip_report.h"

#include <string>
#include <vector>

#include "kernels/cuda/device_info.h"

TEST_CASE("cuda: vector add on the device, or a clean skip") {
  const auto info = actinfer::cuda::query_devices();
  std::vector<float> a(1000), b(1000), out(1000, -1.0f);
  for (int i = 0; i < 1000; ++i) a[i] = static_cast<float>(i), b[i] = 0.5f * static_cast<float>(i);
  std::string reason;
  const bool ran = actinfer::cuda::vector_add(a.data(), b.data(), out.data(), 1000, reason);
  if (!info.available) {
    ACTINFER_REPORT_SKIPPED("no usable CUDA device: " << info.reason << " (skipped)");
    CHECK_FALSE(ran);
    CHECK_FALSE(reason.empty());
    return;
  }
  REQUIRE_MESSAGE(ran, reason);
  for (int i = 0; i < 1000; ++i) CHECK(out[i] == 1.5f * static_cast<float>(i));
}
