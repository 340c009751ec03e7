// `actinfer bench-lane-rows`: the lane-exact per-token kernels (gemm_lane_exact_rows of
// kernels/gemm_quant.h) against the per-token path they stand in for (vec_dot_rows_multi), on
// random rows of the shapes of the benchmark model (SmolLM2: Q4_1 576 x 1536 and 1536 x 576, the
// Q8_0 output head 49152 x 576; Q4_K and a Q6_K head as a Q4_K_M file has them; Q2_K, Q3_K and
// IQ4_XS squares of a 1B model's attention) at 1, 2, 4 and 8 tokens. The two run alternately in
// the same process; each figure is the median of the rounds.
// --cold reads the weights from memory (copies cycled). A measurement, not a test.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/gemm_quant.h"
#include "kernels/ggml_type.h"
#include "kernels/quantize.h"
#include "kernels/vec_dot.h"
#include "tools/bench_timing.h"
#include "tools/commands.h"

namespace actinfer::tools {
namespace {

struct BenchLaneRowsOptions {
  int rounds = 21;
  double round_ms = 4.0;  // time per kernel per round
  bool cold = false;      // cycle through copies of the weights larger than the caches
  int64_t max_rows = 0;   // > 0: at most this many rows per shape (a quick run)
  uint64_t seed = 5;
  std::vector<int> tokens{1, 2, 4, 8};  // each 1 .. 8
};

struct Shape {
  GgmlType type;
  int64_t rows, cols;
};

void bench_lane_rows(const BenchLaneRowsOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::printf("%-5s %6s x %-5s %3s  %12s %12s  %s\n", "type", "rows", "cols", "tok", "per-token us", "lane-exact us",
              "speed-up");
  for (const Shape& s : {Shape{GgmlType::Q4_1, 576, 1536}, Shape{GgmlType::Q4_1, 1536, 576}, Shape{GgmlType::Q8_0, 49152, 576},
                         Shape{GgmlType::Q4_K, 576, 1536}, Shape{GgmlType::Q6_K, 32768, 1024},
                         Shape{GgmlType::Q2_K, 2048, 2048}, Shape{GgmlType::Q3_K, 2048, 2048},
                         Shape{GgmlType::IQ4_XS, 2048, 2048}}) {
    if (!has_lane_exact_rows(s.type)) {
      std::printf("%-5s: no lane-exact kernel in this build (AVX2 and AVX-512 VNNI builds: every tiled type)\n", type_name(s.type).c_str());
      continue;
    }
    const int64_t rows = o.max_rows > 0 ? std::min(s.rows, o.max_rows) : s.rows;
    const auto rb = static_cast<size_t>(row_bytes(s.type, s.cols));
    const size_t matrix = rb * static_cast<size_t>(rows);
    // --cold: as many copies as fill 96 MiB, each call reading the next (weights from memory,
    // as in a forward pass over a model larger than the caches).
    const size_t copies = o.cold ? std::max<size_t>(1, (size_t{96} << 20) / matrix) : 1;
    std::vector<uint8_t> w(matrix * copies);
    std::vector<float> row(static_cast<size_t>(s.cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (float& v : row) v = g(rng);
      quantize_row(s.type, row.data(), w.data() + static_cast<size_t>(r) * rb, s.cols);
    }
    for (size_t c = 1; c < copies; ++c) std::copy_n(w.begin(), matrix, w.begin() + static_cast<std::ptrdiff_t>(c * matrix));
    size_t next_copy = 0;
    auto weights = [&] {
      next_copy = (next_copy + 1) % copies;
      return w.data() + next_copy * matrix;
    };
    const auto ab = static_cast<size_t>(row_bytes(activation_type_for(s.type), s.cols));
    constexpr int kMaxTok = 8;
    std::vector<uint8_t> acts(ab * kMaxTok);
    for (int t = 0; t < kMaxTok; ++t) {
      for (float& v : row) v = g(rng);
      quantize_activation(s.type, row.data(), acts.data() + ab * static_cast<size_t>(t), s.cols);
    }
    std::vector<float> out(static_cast<size_t>(rows) * kMaxTok);
    for (int tokens : o.tokens) {
      auto per_token = [&] {
        vec_dot_rows_multi(s.type, s.cols, weights(), rb, rows, acts.data(), ab, tokens, out.data(), static_cast<size_t>(rows));
      };
      auto lane = [&] {
        gemm_lane_exact_rows(s.type, s.cols, weights(), rb, rows, acts.data(), ab, tokens, out.data(), static_cast<size_t>(rows));
      };
      // Calls per round: about round_ms of the per-token kernel.
      using clock = std::chrono::steady_clock;
      auto seconds = [](auto f, int calls) {
        const auto t0 = clock::now();
        for (int i = 0; i < calls; ++i) f();
        return std::chrono::duration<double>(clock::now() - t0).count() / calls;
      };
      per_token();
      lane();
      const int calls = std::max(1, static_cast<int>(o.round_ms * 1e-3 / seconds(per_token, 3)));
      std::vector<double> a, b;
      for (int i = 0; i < o.rounds; ++i) {
        a.push_back(seconds(per_token, calls));
        b.push_back(seconds(lane, calls));
      }
      const double ma = median(a), mb = median(b);
      std::printf("%-5s %6lld x %-5lld %3d  %12.1f %12.1f  %.2fx\n", type_name(s.type).c_str(), static_cast<long long>(rows),
                  static_cast<long long>(s.cols), tokens, ma * 1e6, mb * 1e6, ma / mb);
      std::fflush(stdout);
    }
  }
}

}  // namespace

void register_bench_lane_rows(CLI::App& app) {
  auto o = std::make_shared<BenchLaneRowsOptions>();
  CLI::App* cmd = app.add_subcommand("bench-lane-rows", "time the lane-exact per-token kernels against vec_dot_rows_multi");
  cmd->add_option("--rounds", o->rounds, "alternated rounds (the median is reported)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--round-ms", o->round_ms, "milliseconds per kernel per round")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seed", o->seed, "random weights and inputs")->capture_default_str();
  cmd->add_option("--tokens", o->tokens, "token counts to time, each 1..8")->check(CLI::Range(1, 8))->capture_default_str();
  cmd->add_flag("--cold", o->cold, "weights from memory: cycle through copies larger than the caches");
  cmd->add_option("--max-rows", o->max_rows, "at most this many rows per shape (a quick run)")->check(CLI::PositiveNumber);
  cmd->callback([o] { bench_lane_rows(*o); });
}

}  // namespace actinfer::tools
