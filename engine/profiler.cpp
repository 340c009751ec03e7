#include "engine/profiler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/dense_engine.h"
#include "engine/kv_cache.h"
#include "engine/layer_ops.h"
#include "engine/rng.h"
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

}  // namespace

void observe_activations(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o, const ActivationObserver& on_act,
                         const std::function<void(int, int)>& progress) {
  check_tokens(w, tokens, o);
  const ModelConfig& c = w.config();
  const int n_ctx = chunk_length(w, o);
  const int B_max = std::min(o.max_batch, n_ctx);
  ThreadPool pool(default_thread_count(o.n_threads));
  Workspace ws(c, B_max, pool.size(), n_ctx, false);
  KvCache cache(c.n_layers, n_ctx, c.n_kv_heads * c.head_dim);
  const int64_t d = c.d_model;
  std::vector<float> x(static_cast<size_t>(B_max) * d), xn(x.size()), a(static_cast<size_t>(c.d_ff));
  const NeuronSlice all = NeuronSlice::all(c.d_ff);
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
        ffn_block(pool, ws, FfnWeights::of_layer(w, l), xn.data(), B, all, {}, x.data(), true);
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

std::vector<float> calibrate_thresholds(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                                        const std::function<void(int, int)>& progress) {
  check_tokens(w, tokens, o);
  if (!(o.target_sparsity >= 0 && o.target_sparsity < 1))
    throw std::invalid_argument("target sparsity must be in [0, 1), got " + std::to_string(o.target_sparsity));
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
  std::vector<float> thr(static_cast<size_t>(c.n_layers));
  for (size_t l = 0; l < thr.size(); ++l) {
    auto& r = res[l];
    // The k-th smallest with k = floor(s * n): about a fraction s of the sample is <= it.
    const size_t k = std::min(r.size() - 1, static_cast<size_t>(o.target_sparsity * static_cast<double>(r.size())));
    std::nth_element(r.begin(), r.begin() + static_cast<ptrdiff_t>(k), r.end());
    thr[l] = o.target_sparsity == 0 ? 0.0f : r[k];
  }
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
  const bool relu = w.config().activation == Activation::ReLU;
  const int passes = relu ? 1 : 2;
  std::vector<float> thr;
  if (!relu)
    thr = calibrate_thresholds(w, tokens, o, [&](int ch, int n) { if (progress) progress(1, passes, ch, n); });
  return count_activations(w, tokens, thr, o, [&](int ch, int n) { if (progress) progress(passes, passes, ch, n); });
}

}  // namespace actinfer
