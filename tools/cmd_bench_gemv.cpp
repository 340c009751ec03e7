// `actinfer bench-gemv`: the CUDA gemv kernel's speed on random weight rows (F16, Q8_0, Q4_0;
// --rows x --cols, one token), as weight bytes read per second. A measurement, not a test:
// it was the "report only" case of tests/test_cuda_kernels.cpp. Without a usable device it
// says why and exits non-zero.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/device_info.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/gpu_kernels.h"
#include "kernels/ggml_type.h"
#include "kernels/quantize.h"
#include "tools/commands.h"

namespace actinfer::tools {
namespace {

struct BenchGemvOptions {
  int64_t rows = 4096, cols = 4096;
  int iterations = 50;
  uint64_t seed = 3;
};

void bench_gemv(const BenchGemvOptions& o) {
  const auto info = cuda::query_devices();
  if (!info.available) throw std::runtime_error("bench-gemv: no usable CUDA device: " + info.reason);
  if (o.cols % 32 != 0) throw std::invalid_argument("bench-gemv: --cols must be a multiple of 32 (quantized blocks)");
  cuda::Stream stream;
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(o.cols)), row(static_cast<size_t>(o.cols));
  for (float& v : x) v = uniform(rng);
  for (GgmlType type : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0}) {
    const auto rb = static_cast<size_t>(row_bytes(type, o.cols));
    std::vector<uint8_t> w(rb * static_cast<size_t>(o.rows));
    for (int64_t r = 0; r < o.rows; ++r) {
      for (float& v : row) v = uniform(rng);
      quantize_row(type, row.data(), w.data() + static_cast<size_t>(r) * rb, o.cols);
    }
    cuda::DeviceBuffer dw = cuda::DeviceBuffer::from_vector(w), dx = cuda::DeviceBuffer::from_vector(x);
    cuda::DeviceBuffer dy(sizeof(float) * static_cast<size_t>(o.rows));
    cuda::gemv(type, dw.data(), rb, o.rows, o.cols, dx.as<float>(), dy.as<float>(), 1, stream);  // warm-up
    stream.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < o.iterations; ++i) cuda::gemv(type, dw.data(), rb, o.rows, o.cols, dx.as<float>(), dy.as<float>(), 1, stream);
    stream.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / o.iterations;
    std::printf("gemv %-5s %lld x %lld: %9.1f us, %7.1f GB/s of weights\n", std::string(type_name(static_cast<uint32_t>(type))).c_str(),
                static_cast<long long>(o.rows), static_cast<long long>(o.cols), s * 1e6, static_cast<double>(w.size()) / s / 1e9);
  }
}

}  // namespace

void register_bench_gemv(CLI::App& app) {
  auto o = std::make_shared<BenchGemvOptions>();
  CLI::App* cmd = app.add_subcommand("bench-gemv", "time the CUDA gemv kernel (weight bytes read per second)");
  cmd->add_option("--rows", o->rows, "weight rows")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--cols", o->cols, "weight columns (a multiple of 32)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("-i,--iterations", o->iterations, "timed calls per type")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seed", o->seed, "random weights and input")->capture_default_str();
  cmd->callback([o] { bench_gemv(*o); });
}

}  // namespace actinfer::tools
