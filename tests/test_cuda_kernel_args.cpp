// The kernels' host-side argument checks (kernels/cuda/kernel_args.h): plain C++, so they run
// here without a GPU. The same functions guard the CUDA kernels and their CPU emulation; the
// last cases (which need a device, real or emulated) check that the API refuses through them.
#include <doctest/doctest.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/device_info.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/gpu_kernels.h"
#include "kernels/cuda/kernel_args.h"
#include "kernels/cuda/pointwise.h"

using namespace actinfer;
using cuda::args::RowKernel;

namespace {

alignas(64) constexpr uint8_t kRows[4096] = {};  // never read: the checks look at addresses only
const float* const kX = reinterpret_cast<const float*>(kRows);

}  // namespace

TEST_CASE("cuda args: row types, lengths and alignment") {
  CHECK(cuda::args::type_block(GgmlType::F32) == 1);
  CHECK(cuda::args::type_block(GgmlType::Q4_1) == 32);
  CHECK(cuda::args::type_block(GgmlType::Q4_K) == 0);

  // Unsupported type: named, with the supported list.
  CHECK_THROWS_WITH_AS(cuda::args::check_gemv(GgmlType::Q4_K, kRows, 144, 1, 256, kX, 1),
                       "cuda::gemv: weight type Q4_K not supported (F32, F16, Q4_0, Q4_1, Q8_0; the cuda backend holds other types as F32)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_sparse_down(GgmlType::Q4_0, kRows, 18, 32, 1),
                       "cuda::sparse_down: down^T type Q4_0 not supported (F32, F16, Q8_0)", std::invalid_argument);

  // Row length not a multiple of the block, not positive, too large.
  CHECK_THROWS_WITH_AS(cuda::args::check_gemv(GgmlType::Q8_0, kRows, 34, 1, 48, kX, 1),
                       "cuda::gemv: row length 48 must be a positive multiple of 32 (type Q8_0)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_dequantize_rows(GgmlType::F32, kRows, 128, 1, 0),
                       doctest::Contains("row length 0 must be a positive multiple of 1"), std::invalid_argument);
  CHECK_THROWS_AS(cuda::args::check_rows("f", GgmlType::F32, kRows, 4, int64_t{INT_MAX}, kX), std::invalid_argument);

  // Misaligned stride, pointer, x.
  CHECK_THROWS_WITH_AS(cuda::args::check_gemv(GgmlType::Q8_0, kRows, 33, 1, 32, kX, 1),
                       doctest::Contains("rows of type Q8_0 must be 2-byte aligned (pointer and stride); the stride is 33 bytes"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_gemv(GgmlType::F32, kRows + 2, 128, 1, 32, kX, 1),
                       doctest::Contains("must be 4-byte aligned (pointer and stride); the stride is 128 bytes and the pointer is not aligned"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_gemv(GgmlType::Q4_1, kRows, 22, 1, 32, kX, 1), doctest::Contains("4-byte aligned"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_gemv(GgmlType::Q8_0, kRows, 34, 1, 32, kX + 1, 1),
                       "cuda::gemv: x must be 16-byte aligned for quantized rows", std::invalid_argument);
  CHECK_NOTHROW(cuda::args::check_gemv(GgmlType::F32, kRows, 128, 1, 32, kX + 1, 1));  // float rows: any x

  // The kernel variant: F16 rows read as half pairs only when 4-byte aligned with n even.
  CHECK(cuda::args::check_rows("f", GgmlType::Q4_0, kRows, 18, 32, kX) == RowKernel::Q4_0);
  CHECK(cuda::args::check_rows("f", GgmlType::F16, kRows, 64, 32, kX) == RowKernel::F16);
  CHECK(cuda::args::check_rows("f", GgmlType::F16, kRows, 62, 31, kX) == RowKernel::F16Unaligned);
  CHECK(cuda::args::check_rows("f", GgmlType::F16, kRows + 2, 64, 32, kX) == RowKernel::F16Unaligned);
  // sparse_gate_up: the unaligned variant when either row set needs it.
  CHECK(cuda::args::check_sparse_gate_up(GgmlType::F16, kRows, kRows + 64, 128, 32, 4, kX) == RowKernel::F16);
  CHECK(cuda::args::check_sparse_gate_up(GgmlType::F16, kRows + 2, kRows + 64, 128, 32, 4, kX) == RowKernel::F16Unaligned);
  CHECK(cuda::args::check_sparse_gate_up(GgmlType::F16, nullptr, kRows + 64, 128, 32, 4, kX) == RowKernel::F16);
}

TEST_CASE("cuda args: row counts, tokens and shapes") {
  CHECK_THROWS_WITH_AS(cuda::args::check_gemv(GgmlType::F32, kRows, 128, -1, 32, kX, 1),
                       "cuda::gemv: n_rows -1 must be in 0..2147483639", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_gemv(GgmlType::F32, kRows, 128, 4, 32, kX, 70000),
                       "cuda::gemv: B 70000 must be in 0..65535", std::invalid_argument);
  CHECK_NOTHROW(cuda::args::check_gemv(GgmlType::F32, kRows, 128, 0, 32, kX, 0));  // empty: nothing to do
  CHECK_THROWS_WITH_AS(cuda::args::check_dequantize_rows(GgmlType::F32, kRows, 128, int64_t{INT_MAX} + 1, 32),
                       "cuda::dequantize_rows: n_rows 2147483648 must be in 0..2147483647", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_sparse_gate_up(GgmlType::F32, nullptr, kRows, 128, 32, -3, kX),
                       "cuda::sparse_gate_up: n_active -3 must be in 0..2147483639", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_sparse_down(GgmlType::Q8_0, kRows, 34, 64, -1),
                       "cuda::sparse_down: n_active -1 must be in 0..2147483647", std::invalid_argument);

  CHECK_THROWS_WITH_AS(cuda::args::check_rms_norm(0, 1), "cuda::rms_norm: n 0 must be in 1..2147483647", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_rms_norm(64, -1), doctest::Contains("B -1 must be in 0.."), std::invalid_argument);

  CHECK_NOTHROW(cuda::args::check_rope(2, 4, 64, 64, 0));
  CHECK_THROWS_WITH_AS(cuda::args::check_rope(1, 1, 8, 3, 0), "cuda::rope_inplace: rope_dims 3 must be even and in 0..head_dim 8",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_rope(1, 1, 8, 10, 0), doctest::Contains("rope_dims 10 must be even"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_rope(1, 0, 8, 8, 0), doctest::Contains("n_heads 0 must be in 1.."), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_rope(1, 1, 8, 8, -5), doctest::Contains("pos0 -5 must be in 0.."), std::invalid_argument);

  CHECK_NOTHROW(cuda::args::check_attention(3, 7, 8, 2, 64));
  CHECK_THROWS_WITH_AS(cuda::args::check_attention(1, 0, 6, 4, 64), "cuda::attention: n_heads 6 must be a multiple of n_kv_heads 4",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_attention(1, 0, 4, 4, 512), "cuda::attention: head_dim 512 must be in 1..256",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_attention(1, 0, 4, 0, 64), doctest::Contains("n_kv_heads 0 must be in 1.."), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_attention(65536, 0, 4, 4, 64), doctest::Contains("B 65536 must be in 0..65535"),
                       std::invalid_argument);
  CHECK_NOTHROW(cuda::args::check_attention(3, 7, 4, 1, 256, 0.0625f, 512));
  CHECK_THROWS_WITH_AS(cuda::args::check_attention(1, 0, 4, 4, 64, 0.0f, 0), doctest::Contains("cuda::attention: scale 0"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_attention(1, 0, 4, 4, 64, 0.125f, -2), doctest::Contains("window -2 must be in 0.."),
                       std::invalid_argument);

  CHECK_THROWS_WITH_AS(cuda::args::check_pointwise("cuda::add_bias", -2, 1), "cuda::add_bias: n -2 must be in 0..9223372036854775807",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_pointwise("cuda::ffn_hidden", 16, 65536), "cuda::ffn_hidden: B 65536 must be in 0..65535",
                       std::invalid_argument);
  const int64_t too_many = (int64_t{INT_MAX} + 1) * 32;
  CHECK_THROWS_WITH_AS(cuda::args::check_active_bits(too_many, 1), doctest::Contains("cuda::active_bits: n 68719476736 is too large"),
                       std::invalid_argument);
  CHECK_NOTHROW(cuda::args::check_active_bits(too_many, 0));  // no tokens: nothing launched

  CHECK(cuda::args::check_sgemm_xwt(4, 16, 8, 0) == 16);
  CHECK(cuda::args::check_sgemm_xwt(4, 16, 8, 20) == 20);
  CHECK_THROWS_WITH_AS(cuda::args::check_sgemm_xwt(4, 16, 8, 12), "Blas::sgemm_xwt: ldy 12 is less than N 16", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_sgemm_xwt(4, 16, -1, 0), "Blas::sgemm_xwt: K -1 must be in 0..2147483647", std::invalid_argument);

  CHECK_NOTHROW(cuda::args::check_device_number(1, 2));
  CHECK_THROWS_WITH_AS(cuda::args::check_device_number(1, 1), "CUDA device 1 does not exist (this machine has 1 device)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::args::check_device_number(-1, 2), "CUDA device -1 does not exist (this machine has 2 devices)",
                       std::invalid_argument);
}

// With a device (a GPU, or the CPU emulation): the API refuses through these very checks, and
// freed buffers give their memory back.
TEST_CASE("cuda args: the kernel API refuses with the shared messages; device memory comes back") {
  const auto info = cuda::query_devices();
  if (!info.available) {
    MESSAGE("no usable CUDA device: " << info.reason << " (the API part skipped)");
    return;
  }
  cuda::select_device(0);
  const cuda::Stream stream;
  const cuda::DeviceBuffer dummy(4096);
  const float* x = dummy.as<float>();
  float* y = dummy.as<float>();
  CHECK_THROWS_WITH_AS(cuda::gemv(GgmlType::Q4_K, dummy.data(), 144, 1, 256, x, y, 1, stream),
                       "cuda::gemv: weight type Q4_K not supported (F32, F16, Q4_0, Q4_1, Q8_0; the cuda backend holds other types as F32)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::gemv(GgmlType::F32, dummy.data(), 128, -1, 32, x, y, 1, stream),
                       "cuda::gemv: n_rows -1 must be in 0..2147483639", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::dequantize_rows(GgmlType::Q8_0, dummy.data(), 34, 1, 48, y, stream),
                       "cuda::dequantize_rows: row length 48 must be a positive multiple of 32 (type Q8_0)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::rms_norm(x, x, y, 0, 1e-5f, 1, stream), "cuda::rms_norm: n 0 must be in 1..2147483647",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::attention(x, x, x, y, 1, 0, 6, 4, 64, 0.125f, 0, stream), "cuda::attention: n_heads 6 must be a multiple of n_kv_heads 4",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::add_bias(y, x, 16, -1, stream), "cuda::add_bias: B -1 must be in 0..65535", std::invalid_argument);
  CHECK_THROWS_WITH_AS(cuda::select_device(info.device_count), doctest::Contains(" does not exist (this machine has "),
                       std::invalid_argument);

  // 64 MiB taken while held, given back when freed (a 2 MiB margin for a real device's granularity).
  constexpr size_t kHeld = size_t{64} << 20, kSlack = size_t{2} << 20;
  const size_t before = cuda::device_memory().free;
  {
    const cuda::DeviceBuffer held(kHeld);
    CHECK(cuda::device_memory().free + kHeld <= before);
  }
  CHECK(cuda::device_memory().free + kSlack >= before);
}
