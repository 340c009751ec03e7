// `actinfer bench-sparse`: one FFN layer's dense ffn_block against sparse_ffn over neuron
// bundles, for the oracle active set of a random token (ReLU models: gate > 0; other
// activations: the top --fraction of |act(gate)|). Every layer is visited in turn so the
// weights come from memory, not cache (--cached: the sparse side repeats layer 0, whose
// active records then stay in cache: the kernels' compute cost); times are per layer,
// median of repeats.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/layer_ops.h"
#include "engine/neuron_bundles.h"
#include "kernels/dequantize.h"
#include "kernels/sparse_ffn.h"
#include "tools/bench_timing.h"
#include "tools/cli_support.h"
#include "tools/commands.h"

namespace actinfer::tools {
namespace {

struct BenchSparseOptions {
  std::string model_path;
  std::vector<int> threads{1, 2};
  int repeats = 20;
  uint64_t seed = 1;
  bool cached = false;  // time layer 0 over and over: weights in cache, the kernels' compute cost
  double fraction = 0.1;
};

void bench_sparse(const BenchSparseOptions& o) {
  const auto w = ModelWeights::load(o.model_path);
  const ModelConfig& c = w->config();
  const int n_layers = c.n_layers;
  const int64_t d = c.d_model, ff = c.d_ff;

  auto t0 = std::chrono::steady_clock::now();
  std::vector<NeuronBundles> bundles;
  for (int l = 0; l < n_layers; ++l) bundles.emplace_back(FfnWeights::of_layer(*w, l));
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // One random token's FFN input per layer (its embedding, normalised) and oracle set.
  std::mt19937_64 rng(o.seed);
  const auto token = static_cast<int32_t>(rng() % static_cast<uint64_t>(c.n_vocab));
  std::vector<float> x(static_cast<size_t>(d)), xn(static_cast<size_t>(n_layers * d)), y(static_cast<size_t>(d));
  dequantize_row(w->token_embedding().type, w->token_embedding().row(token), x.data(), d);
  std::vector<std::vector<int32_t>> active(static_cast<size_t>(n_layers));
  {
    ThreadPool pool(1);
    Workspace ws(c, 1, false);
    std::vector<float> g(static_cast<size_t>(ff));
    for (int l = 0; l < n_layers; ++l) {
      float* xl = &xn[static_cast<size_t>(l * d)];
      ffn_norm(*w, l, x.data(), xl, 1);
      ffn_gate_activations(pool, ws, *w, l, xl, g.data());
      auto& a = active[static_cast<size_t>(l)];
      if (c.activation == Activation::ReLU) {
        for (int32_t i = 0; i < static_cast<int32_t>(ff); ++i) if (g[static_cast<size_t>(i)] > 0) a.push_back(i);
      } else {
        std::vector<int32_t> idx(static_cast<size_t>(ff));
        std::iota(idx.begin(), idx.end(), 0);
        const auto k = static_cast<size_t>(std::lround(o.fraction * static_cast<double>(ff)));
        std::partial_sort(idx.begin(), idx.begin() + static_cast<ptrdiff_t>(k), idx.end(),
                          [&](int32_t p, int32_t q) { return std::fabs(g[static_cast<size_t>(p)]) > std::fabs(g[static_cast<size_t>(q)]); });
        a.assign(idx.begin(), idx.begin() + static_cast<ptrdiff_t>(k));
        std::sort(a.begin(), a.end());
      }
    }
  }
  size_t n_active = 0;
  for (const auto& a : active) n_active += a.size();
  const double mean_active = static_cast<double>(n_active) / n_layers;
  const FfnWeights f0 = FfnWeights::of_layer(*w, 0);
  const double dense_bytes = static_cast<double>(f0.gate.bytes() + f0.up.bytes() + f0.down.bytes());
  const double sparse_bytes = mean_active * static_cast<double>(bundles[0].record_bytes());
  std::printf("model %s: %d layers, d_model %lld, %lld neurons, gate/up %s, down %s -> down^T %s\n", o.model_path.c_str(),
              n_layers, static_cast<long long>(d), static_cast<long long>(ff), std::string(traits(f0.up.type).name).c_str(),
              std::string(traits(f0.down.type).name).c_str(), std::string(traits(bundles[0].down_t_type()).name).c_str());
  std::printf("bundles: %zu bytes per neuron record (%zu used), %.1f MB per layer, built in %.2f s\n",
              bundles[0].record_bytes(), bundles[0].used_record_bytes(), static_cast<double>(bundles[0].bytes()) / 1e6, build_s);
  std::printf("token %d: %.1f active neurons per layer (%.1f%%)\n", token, mean_active, 100.0 * mean_active / static_cast<double>(ff));
  std::printf("bytes per layer per token: dense %.2f MB, sparse %.2f MB (%.1f%%); byte-ratio ceiling %.2fx\n",
              dense_bytes / 1e6, sparse_bytes / 1e6, 100.0 * sparse_bytes / dense_bytes, dense_bytes / sparse_bytes);

  for (int nt : o.threads) {
    ThreadPool pool(nt);
    Workspace ws(c, 1, false);
    SparseScratch scratch;
    const NeuronSlice all = NeuronSlice::all(static_cast<int32_t>(ff));
    const std::vector<uint8_t> no_mask;
    std::vector<FfnWeights> fw;
    for (int l = 0; l < n_layers; ++l) fw.push_back(FfnWeights::of_layer(*w, l));
    auto time_pass = [&](auto&& one_layer) {
      const auto s = std::chrono::steady_clock::now();
      for (int l = 0; l < n_layers; ++l) one_layer(l);
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count() / n_layers;
    };
    auto dense_layer = [&](int l) { ffn_block(pool, ws, fw[static_cast<size_t>(l)], &xn[static_cast<size_t>(l * d)], 1, all, no_mask, y.data(), false); };
    auto sparse_layer = [&](int l) {
      if (o.cached) l = 0;
      sparse_ffn(pool, bundles[static_cast<size_t>(l)], &xn[static_cast<size_t>(l * d)], active[static_cast<size_t>(l)], y.data(), scratch);
    };
    std::vector<double> td, ts;
    time_pass(dense_layer);
    time_pass(sparse_layer);
    for (int r = 0; r < o.repeats; ++r) {
      td.push_back(time_pass(dense_layer));
      ts.push_back(time_pass(sparse_layer));
    }
    const double md = median(td), ms = median(ts);
    std::printf("threads %d: dense %.1f us/layer (%.1f GB/s), sparse%s %.1f us/layer (%.1f GB/s), speed-up %.2fx\n", nt,
                md * 1e6, dense_bytes / md / 1e9, o.cached ? " (cached)" : "", ms * 1e6, sparse_bytes / ms / 1e9, md / ms);
  }
}

}  // namespace

void register_bench_sparse(CLI::App& app) {
  auto o = std::make_shared<BenchSparseOptions>();
  CLI::App* cmd = app.add_subcommand("bench-sparse", "time one FFN layer: dense ffn_block vs sparse_ffn over neuron bundles");
  cmd->add_option("-m,--model", o->model_path, "model GGUF file")->required()->check(CLI::ExistingFile);
  cmd->add_option("-t,--threads", o->threads, "thread counts to measure")->capture_default_str();
  cmd->add_option("-r,--repeats", o->repeats, "passes over all layers; the median is reported")->check(at_least(1))->capture_default_str();
  cmd->add_option("--seed", o->seed, "picks the random token")->capture_default_str();
  cmd->add_flag("--cached", o->cached, "sparse: repeat layer 0 so its active records stay in cache (compute cost, no DRAM)");
  cmd->add_option("--fraction", o->fraction, "active fraction for non-ReLU models (top |act(gate)|)")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->callback([o] { bench_sparse(*o); });
}

}  // namespace actinfer::tools
