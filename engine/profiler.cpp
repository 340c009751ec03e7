#include "engine/profiler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/dense_engine.h"
#include "engine/kv_cache.h"
#include "engine/layer_ops.h"
#include "engine/rng.h"
#include "engine/sparsity_allocation.h"
#include "engine/thread_pool.h"

namespace actinfer {
namespace {

void check_tokens(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o) {
  if (tokens.empty()) throw std::invalid_argument("profile: no tokens");
  if (o.n_ctx < 1) throw std::invalid_argument("profile: chunk length must be positive, got " + std::to_string(o.n_ctx));
  if (o.max_batch < 1) throw std::invalid_argument("profile: batch size must be positive");
  const ModelConfig& c = w.config();
  for (int32_t t : tokens)
    if (t < 0 || t >= c.n_vocab)
      throw std::out_of_range("token id " + std::to_string(t) + " outside the vocabulary of " + std::to_string(c.n_vocab));
  if (o.add_bos && (o.bos < 0 || o.bos >= c.n_vocab)) throw std::invalid_argument("profile: BOS id outside the vocabulary");
}

int chunk_length(const ModelWeights& w, const ProfileOptions& o) { return std::min(o.n_ctx, w.config().n_ctx_train); }

int n_chunks_of(size_t n_tokens, int n_ctx) { return static_cast<int>((n_tokens + n_ctx - 1) / static_cast<size_t>(n_ctx)); }

void check_target(double s) {
  if (!(s >= 0 && s < 1)) throw std::invalid_argument("target sparsity must be in [0, 1), got " + std::to_string(s));
}

// Each layer's cost at each sweep level, its thresholds read from the samples.
LayerSensitivity sweep_sensitivity(const ModelWeights& w, std::span<const int32_t> tokens, const MagnitudeSamples& samples, int n_ctx,
                                   const ProfileOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  std::vector<std::vector<float>> thr(static_cast<size_t>(samples.n_layers()));
  for (int l = 0; l < samples.n_layers(); ++l)
    for (double s : o.sweep_levels) thr[static_cast<size_t>(l)].push_back(samples.threshold(l, s));
  SensitivityOptions so;
  so.n_ctx = n_ctx;
  so.n_threads = o.n_threads;
  so.max_batch = o.max_batch;
  so.add_bos = o.add_bos;
  so.bos = o.bos;
  return measure_layer_sensitivity(w, tokens, thr, so, progress);
}

}  // namespace

void observe_activations(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o, const ActivationObserver& on_act,
                         const std::function<void(int, int)>& progress) {
  check_tokens(w, tokens, o);
  const ModelConfig& c = w.config();
  const int n_ctx = chunk_length(w, o);
  const int B_max = std::min(o.max_batch, n_ctx);
  ThreadPool pool(default_thread_count(o.n_threads));
  Workspace ws(c, B_max, false);
  KvCache cache = KvCache::of_model(c, n_ctx, KvCacheType::F32);
  const int64_t d = c.d_model;
  std::vector<float> x(static_cast<size_t>(B_max) * d), xn(x.size()), a(static_cast<size_t>(c.d_ff));
  const int n_chunks = n_chunks_of(tokens.size(), n_ctx);
  std::vector<int32_t> chunk;
  for (int ch = 0; ch < n_chunks; ++ch) {
    const size_t begin = static_cast<size_t>(ch) * n_ctx;
    const size_t len = std::min(tokens.size() - begin, static_cast<size_t>(n_ctx));
    chunk.assign(tokens.begin() + static_cast<ptrdiff_t>(begin), tokens.begin() + static_cast<ptrdiff_t>(begin + len));
    if (o.add_bos) chunk[0] = o.bos;
    for (size_t off = 0; off < len; off += static_cast<size_t>(B_max)) {
      const int B = static_cast<int>(std::min(len - off, static_cast<size_t>(B_max)));
      embed_tokens(w, std::span<const int32_t>(chunk).subspan(off, static_cast<size_t>(B)), x.data());
      for (int l = 0; l < c.n_layers; ++l) {
        attention_block(pool, ws, w, cache, l, static_cast<int>(off), B, x.data());
        ffn_norm(w, l, x.data(), xn.data(), B);
        for (int t = 0; t < B; ++t) {
          ffn_neuron_activity(pool, ws, w, l, xn.data() + t * d, 1, a.data());
          on_act(l, static_cast<const float*>(xn.data() + t * d), static_cast<const float*>(a.data()));
        }
        dense_ffn_residual(pool, ws, w, l, xn.data(), B, x.data());
      }
    }
    if (progress) progress(ch + 1, n_chunks);
  }
}


double ActivationProfile::layer_sparsity(int layer) const {
  const auto& f = fired.at(static_cast<size_t>(layer));
  if (f.empty() || n_tokens == 0) return 0;
  double s = 0;
  for (uint32_t v : f) s += v;
  return 1.0 - s / (static_cast<double>(n_tokens) * static_cast<double>(f.size()));
}

double ActivationProfile::mean_sparsity() const {
  double s = 0, n = 0;
  for (const auto& f : fired) {
    for (uint32_t v : f) s += v;
    n += static_cast<double>(f.size()) * static_cast<double>(n_tokens);
  }
  return n > 0 ? 1.0 - s / n : 0;
}

double ActivationProfile::hot_share(int layer, double fraction) const {
  std::vector<uint32_t> f = fired.at(static_cast<size_t>(layer));
  std::sort(f.begin(), f.end(), std::greater<>());
  const size_t k = static_cast<size_t>(std::ceil(fraction * static_cast<double>(f.size())));
  double hot = 0, total = 0;
  for (size_t i = 0; i < f.size(); ++i) (i < k ? hot : total) += f[i];
  total += hot;
  return total > 0 ? hot / total : 0;
}

MagnitudeSamples::MagnitudeSamples(std::vector<std::vector<float>> per_layer) : sorted_(std::move(per_layer)) {
  for (auto& r : sorted_) std::sort(r.begin(), r.end());
}

float MagnitudeSamples::threshold(int layer, double sparsity) const {
  const auto& r = sorted_.at(static_cast<size_t>(layer));
  if (sparsity == 0 || r.empty()) return 0.0f;
  return r[std::min(r.size() - 1, static_cast<size_t>(sparsity * static_cast<double>(r.size())))];
}

MagnitudeSamples sample_magnitudes(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                                   const std::function<void(int, int)>& progress) {
  check_tokens(w, tokens, o);
  if (o.reservoir_size < 1) throw std::invalid_argument("profile: reservoir size must be positive");
  const ModelConfig& c = w.config();
  const size_t R = static_cast<size_t>(o.reservoir_size);
  std::vector<std::vector<float>> res(static_cast<size_t>(c.n_layers));
  std::vector<uint64_t> seen(static_cast<size_t>(c.n_layers), 0);
  Rng rng(o.seed);
  observe_activations(w, tokens, o, [&](int l, const float*, const float* a) {
    auto& r = res[static_cast<size_t>(l)];
    uint64_t& n = seen[static_cast<size_t>(l)];
    for (int i = 0; i < c.d_ff; ++i, ++n) {
      const float v = std::fabs(a[i]);
      if (r.size() < R) r.push_back(v);
      else if (const uint64_t j = rng.below(n + 1); j < R) r[j] = v;
    }
  }, progress);
  return MagnitudeSamples(std::move(res));
}

std::vector<float> calibrate_thresholds(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                                        const std::function<void(int, int)>& progress) {
  check_target(o.target_sparsity);
  const MagnitudeSamples samples = sample_magnitudes(w, tokens, o, progress);
  std::vector<float> thr(static_cast<size_t>(samples.n_layers()));
  for (int l = 0; l < samples.n_layers(); ++l) thr[static_cast<size_t>(l)] = samples.threshold(l, o.target_sparsity);
  return thr;
}

ActivationProfile count_activations(const ModelWeights& w, std::span<const int32_t> tokens, const std::vector<float>& thresholds,
                                    const ProfileOptions& o, const std::function<void(int, int)>& progress) {
  check_tokens(w, tokens, o);
  const ModelConfig& c = w.config();
  const bool relu = c.activation == Activation::ReLU;
  if (!relu && static_cast<int>(thresholds.size()) != c.n_layers)
    throw std::invalid_argument("profile: " + std::to_string(thresholds.size()) + " thresholds for " + std::to_string(c.n_layers) + " layers");
  ActivationProfile p;
  p.n_tokens = static_cast<int64_t>(tokens.size());
  p.activation = c.activation;
  p.target_sparsity = relu ? 0 : o.target_sparsity;
  p.thresholds = relu ? std::vector<float>(static_cast<size_t>(c.n_layers), 0.0f) : thresholds;
  p.fired.assign(static_cast<size_t>(c.n_layers), std::vector<uint32_t>(static_cast<size_t>(c.d_ff), 0));
  observe_activations(w, tokens, o, [&](int l, const float*, const float* a) {
    uint32_t* f = p.fired[static_cast<size_t>(l)].data();
    if (relu) {
      for (int i = 0; i < c.d_ff; ++i) f[i] += a[i] > 0.0f;
    } else {
      const float t = p.thresholds[static_cast<size_t>(l)];
      for (int i = 0; i < c.d_ff; ++i) f[i] += std::fabs(a[i]) > t;
    }
  }, progress);
  return p;
}

ActivationProfile profile_activations(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                                      const ProfileProgress& progress) {
  const ModelConfig& c = w.config();
  if (c.activation == Activation::ReLU)
    return count_activations(w, tokens, {}, o, [&](int ch, int n) { if (progress) progress(1, 1, ch, n); });

  check_target(o.target_sparsity);
  const bool sweep = o.allocation == SparsityAllocation::Sensitivity;
  const int passes = sweep ? 3 : 2;
  const int n_ctx = chunk_length(w, o);
  const size_t n_sweep = std::min(tokens.size(), static_cast<size_t>(std::max<int64_t>(o.allocate_tokens, 0)));
  if (sweep) {  // refuse before the first pass rather than after it
    if (n_ctx < 3 || n_sweep < static_cast<size_t>(n_ctx))
      throw std::invalid_argument("sensitivity allocation needs at least one chunk of n_ctx >= 3 tokens to sweep: " + std::to_string(n_sweep) +
                                  " tokens (of " + std::to_string(tokens.size()) + ") for chunks of " + std::to_string(n_ctx));
    if (o.sweep_levels.empty() || o.target_sparsity > o.sweep_levels.back())
      throw std::invalid_argument("sensitivity allocation measures sparsity levels up to " +
                                  std::to_string(o.sweep_levels.empty() ? 0.0 : o.sweep_levels.back()) + ", the target " +
                                  std::to_string(o.target_sparsity) + " is above them (use uniform allocation)");
  }
  const MagnitudeSamples samples = sample_magnitudes(w, tokens, o, [&](int ch, int n) { if (progress) progress(1, passes, ch, n); });

  std::vector<double> targets(static_cast<size_t>(c.n_layers), o.target_sparsity);
  LayerSensitivity measured;
  if (sweep) {
    measured = sweep_sensitivity(w, tokens.first(n_sweep), samples, n_ctx, o,
                                 [&](int64_t done, int64_t total) { if (progress) progress(2, passes, static_cast<int>(done), static_cast<int>(total)); });
    targets = allocate_sparsity(o.sweep_levels, o.metric == SensitivityMetric::KL ? measured.kl : measured.delta_nll, o.target_sparsity,
                                o.allocation_step);
  }
  std::vector<float> thresholds(static_cast<size_t>(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) thresholds[static_cast<size_t>(l)] = samples.threshold(l, targets[static_cast<size_t>(l)]);
  ActivationProfile p = count_activations(w, tokens, thresholds, o, [&](int ch, int n) { if (progress) progress(passes, passes, ch, n); });
  p.allocation = o.allocation;
  p.layer_targets = std::move(targets);
  if (sweep) {
    p.sweep_levels = o.sweep_levels;
    p.sweep = std::move(measured);
  }
  return p;
}

std::string_view allocation_name(SparsityAllocation a) { return a == SparsityAllocation::Sensitivity ? "sensitivity" : "uniform"; }

std::optional<SparsityAllocation> parse_allocation(std::string_view name) {
  if (name == "uniform") return SparsityAllocation::Uniform;
  if (name == "sensitivity") return SparsityAllocation::Sensitivity;
  return std::nullopt;
}

std::string_view metric_name(SensitivityMetric m) { return m == SensitivityMetric::KL ? "kl" : "nll"; }

std::optional<SensitivityMetric> parse_metric(std::string_view name) {
  if (name == "kl") return SensitivityMetric::KL;
  if (name == "nll") return SensitivityMetric::NLL;
  return std::nullopt;
}

}  // namespace actinfer
