// `actinfer bench-matmul`: the CPU matmul kernels on random weight rows, one thread, for a few
// token counts: the fastest kernels (`fast`: tiles of 8 tokens where a type has them) beside the
// batch-invariant ones the server uses (`invariant`), alternated, medians. A measurement, not
// a test. Reports microseconds per call, tokens/s and GB/s of weights.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/ggml_type.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "tools/bench_timing.h"
#include "tools/commands.h"

namespace actinfer::tools {
namespace {

struct BenchMatmulOptions {
  std::vector<std::string> types = {"q4_1", "q8_0"};
  int64_t rows = 1536, cols = 576;
  std::vector<int> tokens = {1, 2, 4, 8, 16};
  int repeats = 7;
  double min_seconds = 0.05;
  uint64_t seed = 3;
};

void bench_matmul(const BenchMatmulOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  for (const std::string& name : o.types) {
    const auto type = type_from_name(name);
    if (!type || !is_weight_type(*type)) throw std::invalid_argument("bench-matmul: " + name + " is not a weight type (" + weight_type_names() + ")");
    if (o.cols % type_row(*type).block_elems != 0)
      throw std::invalid_argument("bench-matmul: --cols " + std::to_string(o.cols) + " is not a whole number of " + name + " blocks");
    const auto rb = static_cast<size_t>(row_bytes(*type, o.cols));
    std::vector<uint8_t> w(rb * static_cast<size_t>(o.rows));
    std::vector<float> row(static_cast<size_t>(o.cols));
    for (int64_t r = 0; r < o.rows; ++r) {
      for (float& v : row) v = gauss(rng);
      quantize_row(*type, row.data(), w.data() + static_cast<size_t>(r) * rb, o.cols);
    }
    const WeightMatrix m{*type, o.rows, o.cols, reinterpret_cast<const std::byte*>(w.data()), rb};
    for (int tokens : o.tokens) {
      std::vector<float> x(static_cast<size_t>(o.cols) * static_cast<size_t>(tokens)), y(static_cast<size_t>(o.rows) * static_cast<size_t>(tokens));
      for (float& v : x) v = gauss(rng);
      QuantizedBatch fast, invariant;
      fast.resize(*type, o.cols, tokens, false, BatchKernels::kFastest);
      fast.quantize(x.data(), 0, tokens);
      invariant.resize(*type, o.cols, tokens, false, BatchKernels::kBatchInvariant);
      invariant.quantize(x.data(), 0, tokens);
      // Calls per timing: enough for min_seconds on the first measurement.
      auto time_calls = [&](const QuantizedBatch& q, int calls) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) matmul_rows(m, q, y.data(), o.rows, 0, o.rows);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls;
      };
      const int calls = std::max(1, static_cast<int>(o.min_seconds / std::max(1e-7, time_calls(fast, 1))));
      std::vector<double> tf, ti;
      for (int r = 0; r < o.repeats; ++r) {
        tf.push_back(time_calls(fast, calls));
        ti.push_back(time_calls(invariant, calls));
      }
      const double f = median(tf), v = median(ti);
      std::printf("%-6s %6lld x %-6lld tokens %3d  fast %9.1f us %9.0f tok/s %6.1f GB/s | invariant %9.1f us %9.0f tok/s %6.1f GB/s | fast/invariant %.2f\n",
                  name.c_str(), static_cast<long long>(o.rows), static_cast<long long>(o.cols), tokens, f * 1e6, tokens / f,
                  static_cast<double>(w.size()) / f / 1e9, v * 1e6, tokens / v, static_cast<double>(w.size()) / v / 1e9, v / f);
    }
  }
}

}  // namespace

void register_bench_matmul(CLI::App& app) {
  auto o = std::make_shared<BenchMatmulOptions>();
  CLI::App* cmd = app.add_subcommand("bench-matmul", "time the CPU matmul kernels, one thread: fastest vs batch-invariant (serve)");
  cmd->add_option("--type", o->types, "weight types")->capture_default_str();
  cmd->add_option("--rows", o->rows, "weight rows")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--cols", o->cols, "weight columns (whole blocks)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--tokens", o->tokens, "token counts")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("-r,--repeats", o->repeats, "alternated timings per side (median)")->check(CLI::Range(1, 1000))->capture_default_str();
  cmd->add_option("--seed", o->seed, "random weights and input")->capture_default_str();
  cmd->callback([o] { bench_matmul(*o); });
}

}  // namespace actinfer::tools
