// `actinfer bench`: prompt and decode tokens/s (median of repeats), weight bytes
// read per decoded token, and how close decode gets to the memory roofline
// measured in the same run.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "engine/dense_engine.h"
#include "kernels/memory_bandwidth.h"
#include "tools/commands.h"
#include "tools/model_options.h"

namespace actinfer::tools {
namespace {

struct BenchOptions {
  ModelOptions model;
  int n_prompt = 64;
  int n_gen = 64;
  int repeats = 5;
  size_t bandwidth_mib = 256;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void bench(const BenchOptions& o) {
  auto weights = o.model.load_weights();
  const ModelConfig& c = weights->config();
  EngineOptions eo = o.model.engine_options();
  eo.n_ctx = std::max(eo.n_ctx, o.n_prompt + o.n_gen + 1);
  DenseEngine engine(weights, eo);
  const int threads = engine.n_threads();

  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> any_token(0, c.n_vocab - 1);
  std::vector<int32_t> prompt(static_cast<size_t>(o.n_prompt));
  for (auto& t : prompt) t = any_token(rng);

  // Warm-up: fault in the mapped weights and settle the caches.
  engine.rewind(0);
  engine.eval(std::span<const int32_t>(prompt.data(), std::min<size_t>(prompt.size(), 8)), false);

  std::vector<double> pp, tg;
  for (int r = 0; r < o.repeats; ++r) {
    if (o.n_prompt > 0) {
      engine.rewind(0);
      const auto t0 = std::chrono::steady_clock::now();
      engine.eval(prompt, false);
      pp.push_back(o.n_prompt / seconds_since(t0));
    }
    if (o.n_gen > 0) {
      engine.rewind(0);
      int32_t tok = prompt.empty() ? 0 : prompt[0];
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < o.n_gen; ++i) {
        engine.eval(std::span<const int32_t>(&tok, 1), false);
        const auto l = engine.logits();
        tok = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
      }
      tg.push_back(o.n_gen / seconds_since(t0));
    }
  }
  const BandwidthResult bw = measure_read_bandwidth(o.bandwidth_mib << 20, threads);

  const double bytes = static_cast<double>(weights->bytes_per_decoded_token());
  const double gbs = bw.bytes_per_second / 1e9;
  std::printf("model        %s (%s, %d layers, width %d, ffn %d, vocab %d)\n", weights->file().path().filename().c_str(),
              c.name.c_str(), c.n_layers, c.d_model, c.d_ff, c.n_vocab);
  std::printf("threads      %d\n", threads);
  std::printf("read bw      %.1f GB/s (%d threads, %zu MiB array, best of 5)\n", gbs, threads, o.bandwidth_mib);
  std::printf("weights/tok  %.1f MB read per decoded token\n", bytes / 1e6);
  std::printf("roofline     %.1f tokens/s (read bw / bytes per token)\n", bw.bytes_per_second / bytes);
  if (!pp.empty()) std::printf("prompt pp%-4d %.1f tokens/s (median of %d)\n", o.n_prompt, median(pp), o.repeats);
  if (!tg.empty()) {
    const double t = median(tg);
    std::printf("decode tg%-4d %.1f tokens/s (median of %d; min %.1f, max %.1f)\n", o.n_gen, t, o.repeats,
                *std::min_element(tg.begin(), tg.end()), *std::max_element(tg.begin(), tg.end()));
    std::printf("achieved bw  %.1f GB/s = %.0f%% of measured read bandwidth\n", t * bytes / 1e9,
                100.0 * t * bytes / bw.bytes_per_second);
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "measure prompt and decode speed against the memory roofline");
  o->model.add_to(*cmd);
  cmd->add_option("-p,--n-prompt", o->n_prompt, "prompt tokens (0: skip)")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("-n,--n-gen", o->n_gen, "decoded tokens (0: skip)")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("-r,--repeats", o->repeats, "repeats; the median is reported")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--bandwidth-mib", o->bandwidth_mib, "array size for the bandwidth measurement")->check(CLI::Range(16, 65536))->capture_default_str();
  cmd->callback([o] { bench(*o); });
}

}  // namespace actinfer::tools
