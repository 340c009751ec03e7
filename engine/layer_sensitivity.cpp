#include "engine/layer_sensitivity.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/dense_engine.h"
#include "engine/kv_cache.h"
#include "engine/layer_ops.h"
#include "engine/perplexity.h"
#include "engine/thread_pool.h"

namespace actinfer {
namespace {

constexpr float kDense = -1.0f;  // "threshold" of a layer that keeps every neuron

// log sum_i exp(l_i), in double (max-subtracted), as perplexity's NLL computes it.
double log_sum_exp(const float* l, int64_t n) {
  const double max = *std::max_element(l, l + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(l[i]) - max);
  return max + std::log(sum);
}

// The dense model's next-token distribution p at each scored position, kept so
// that a run's KL(p || q) = sum_i p_i (log p_i - log q_i) costs one pass over its
// logits: with log q_i = l_i - lse(l) it is sum p log p - sum p_i l_i + lse(l) sum p,
// the first and last sums kept per position (over the stored float p, so the
// dense run against itself gives 0 up to rounding).
class DenseDistributions {
 public:
  DenseDistributions(int n_positions, int64_t n_vocab)
      : V_(n_vocab), p_(static_cast<size_t>(n_positions) * n_vocab), p_log_p_(static_cast<size_t>(n_positions)), p_sum_(p_log_p_.size()) {}

  void set(int pos, const float* l, double lse) {
    float* p = &p_[static_cast<size_t>(pos) * V_];
    double plogp = 0, psum = 0;
    for (int64_t i = 0; i < V_; ++i) {
      const double lp = static_cast<double>(l[i]) - lse;
      p[i] = static_cast<float>(std::exp(lp));
      plogp += static_cast<double>(p[i]) * lp;
      psum += p[i];
    }
    p_log_p_[static_cast<size_t>(pos)] = plogp;
    p_sum_[static_cast<size_t>(pos)] = psum;
  }

  double kl_from(int pos, const float* l, double lse) const {
    const float* p = &p_[static_cast<size_t>(pos) * V_];
    double pl = 0;
    for (int64_t i = 0; i < V_; ++i) pl += static_cast<double>(p[i]) * l[i];
    return p_log_p_[static_cast<size_t>(pos)] - pl + lse * p_sum_[static_cast<size_t>(pos)];
  }

 private:
  int64_t V_;
  std::vector<float> p_;  // [position][vocab]
  std::vector<double> p_log_p_, p_sum_;
};

// Runs the model's layers [from, L) over the chunk's n positions in x[n][d] (the
// residual stream at layer `from`'s input), layer by layer in batches (a batch's
// attention reads the cache its layer's earlier batches just wrote); layer
// `thresholded` drops, per token, the neurons with |activity| <= threshold.
class ChunkRunner {
 public:
  ChunkRunner(const ModelWeights& w, ThreadPool& pool, int n_ctx, int max_batch, bool exact)
      : w_(w), c_(w.config()), pool_(pool), B_max_(std::min(max_batch, n_ctx)),
        ws_(c_, B_max_, exact), cache_(KvCache::of_model(c_, n_ctx, KvCacheType::F32)),
        xn_(static_cast<size_t>(B_max_) * c_.d_model), act_(static_cast<size_t>(B_max_) * c_.d_ff),
        logits_(static_cast<size_t>(B_max_) * c_.n_vocab), nll_(static_cast<size_t>(B_max_)),
        kl_(static_cast<size_t>(B_max_)), all_(NeuronSlice::all(c_.d_ff)) {}

  // keep[l] (when set) receives the residual at layer l's input for l >= from.
  void run_layers(float* x, int n, int from, int thresholded, float threshold, std::vector<std::vector<float>>* keep) {
    const int64_t d = c_.d_model;
    for (int l = from; l < c_.n_layers; ++l) {
      if (keep) std::copy(x, x + n * d, (*keep)[static_cast<size_t>(l)].begin());
      const FfnWeights ffn = FfnWeights::of_layer(w_, l);
      for (int off = 0; off < n; off += B_max_) {
        const int B = std::min(B_max_, n - off);
        float* xb = x + off * d;
        attention_block(pool_, ws_, w_, cache_, l, off, B, xb);
        ffn_norm(w_, l, xb, xn_.data(), B);
        if (l != thresholded) {
          dense_ffn_residual(pool_, ws_, w_, l, xn_.data(), B, xb);
          continue;
        }
        // The runtime's threshold rule (actors/predictor.cpp): each token its own set.
        ffn_neuron_activity(pool_, ws_, w_, l, xn_.data(), B, act_.data());
        for (float& a : std::span(act_).first(static_cast<size_t>(B) * c_.d_ff))
          if (!(std::fabs(a) > threshold)) a = 0.0f;
        std::fill(ws_.ffn_out.begin(), ws_.ffn_out.begin() + B * d, 0.0f);
        ffn_down(pool_, ws_, ffn, act_.data(), B, ws_.ffn_out.data());
        add_ffn_output(w_, l, ws_.ffn_out.data(), xb, B);
      }
    }
  }

  // The NLL of chunk[p + 1] and the KL from the dense distribution at every scored
  // position p = first .. n-1 of x, summed; the dense run (dense == nullptr) fills
  // `keep_dense` with its distributions instead (its KL is 0).
  struct Sums {
    double nll = 0, kl = 0;
  };
  Sums score(const float* x, std::span<const int32_t> chunk, int first, int n, DenseDistributions* keep_dense, const DenseDistributions* dense) {
    const int64_t d = c_.d_model, V = c_.n_vocab;
    Sums sums;
    for (int off = first; off < n; off += B_max_) {
      const int B = std::min(B_max_, n - off);
      output_head(pool_, ws_, w_, x + off * d, B, logits_.data());
      pool_.run([&](int ti, int nt) {
        const auto [t0, t1] = ThreadPool::split(B, ti, nt);
        for (int64_t t = t0; t < t1; ++t) {
          const float* l = logits_.data() + t * V;
          const double lse = log_sum_exp(l, V);
          const int pos = off + static_cast<int>(t) - first;
          nll_[static_cast<size_t>(t)] = lse - l[chunk[static_cast<size_t>(off + t + 1)]];
          if (keep_dense) keep_dense->set(pos, l, lse);
          kl_[static_cast<size_t>(t)] = dense ? dense->kl_from(pos, l, lse) : 0.0;
        }
      });
      for (int t = 0; t < B; ++t) {  // in order: the same sums for any thread count
        sums.nll += nll_[static_cast<size_t>(t)];
        sums.kl += kl_[static_cast<size_t>(t)];
      }
    }
    return sums;
  }

 private:
  const ModelWeights& w_;
  const ModelConfig& c_;
  ThreadPool& pool_;
  int B_max_;
  Workspace ws_;
  KvCache cache_;
  std::vector<float> xn_, act_;
  std::vector<float> logits_;
  std::vector<double> nll_, kl_;
  NeuronSlice all_;
};

}  // namespace

LayerSensitivity measure_layer_sensitivity(const ModelWeights& w, std::span<const int32_t> tokens,
                                           const std::vector<std::vector<float>>& thresholds, const SensitivityOptions& o,
                                           const std::function<void(int64_t, int64_t)>& progress) {
  const ModelConfig& c = w.config();
  if (c.activation == Activation::ReLU)
    throw std::invalid_argument("layer sensitivity: a ReLU model is not thresholded (its zeros are exact)");
  if (static_cast<int>(thresholds.size()) != c.n_layers)
    throw std::invalid_argument("layer sensitivity: " + std::to_string(thresholds.size()) + " threshold lists for " +
                                std::to_string(c.n_layers) + " layers");
  if (o.max_batch < 1) throw std::invalid_argument("layer sensitivity: batch size must be positive");
  const int n_ctx = std::min(o.n_ctx, c.n_ctx_train);
  if (n_ctx < 3) throw std::invalid_argument("layer sensitivity: chunks of " + std::to_string(n_ctx) + " tokens score nothing (need at least 3)");
  if (tokens.size() < static_cast<size_t>(n_ctx))
    throw std::invalid_argument("layer sensitivity: " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                                std::to_string(n_ctx));
  for (int32_t t : tokens)
    if (t < 0 || t >= c.n_vocab)
      throw std::out_of_range("token id " + std::to_string(t) + " outside the vocabulary of " + std::to_string(c.n_vocab));
  if (o.add_bos && (o.bos < 0 || o.bos >= c.n_vocab)) throw std::invalid_argument("layer sensitivity: BOS id outside the vocabulary");

  const int L = c.n_layers;
  const int64_t d = c.d_model;
  const int n_chunks = static_cast<int>(tokens.size() / static_cast<size_t>(n_ctx));
  const int first = n_ctx / 2;
  const int n = n_ctx - 1;  // the last token predicts nothing scored: not fed
  // Work in layers recomputed (the head counted as one): the dense run, then each (l, k).
  int64_t per_chunk = L + 1;
  for (int l = 0; l < L; ++l) per_chunk += static_cast<int64_t>(thresholds[static_cast<size_t>(l)].size()) * (L - l + 1);
  const int64_t total = per_chunk * n_chunks;
  int64_t done = 0;

  ThreadPool pool(default_thread_count(o.n_threads));
  ChunkRunner runner(w, pool, n_ctx, o.max_batch, o.exact_activations);
  std::vector<std::vector<float>> residual(static_cast<size_t>(L), std::vector<float>(static_cast<size_t>(n) * d));
  std::vector<float> x(static_cast<size_t>(n) * d);
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  DenseDistributions dense(n - first, c.n_vocab);
  double dense_sum = 0;
  std::vector<std::vector<double>> nll_sums(static_cast<size_t>(L)), kl_sums(static_cast<size_t>(L));
  for (int l = 0; l < L; ++l) {
    nll_sums[static_cast<size_t>(l)].assign(thresholds[static_cast<size_t>(l)].size(), 0.0);
    kl_sums[static_cast<size_t>(l)].assign(thresholds[static_cast<size_t>(l)].size(), 0.0);
  }

  for (int ch = 0; ch < n_chunks; ++ch) {
    std::copy_n(tokens.begin() + static_cast<ptrdiff_t>(ch) * n_ctx, n_ctx, chunk.begin());
    if (o.add_bos) chunk[0] = o.bos;
    embed_tokens(w, std::span<const int32_t>(chunk).first(static_cast<size_t>(n)), x.data());
    runner.run_layers(x.data(), n, 0, -1, kDense, &residual);
    dense_sum += runner.score(x.data(), chunk, first, n, &dense, nullptr).nll;
    done += L + 1;
    if (progress) progress(done, total);
    for (int l = 0; l < L; ++l) {
      const auto& tl = thresholds[static_cast<size_t>(l)];
      for (size_t k = 0; k < tl.size(); ++k) {
        std::copy(residual[static_cast<size_t>(l)].begin(), residual[static_cast<size_t>(l)].end(), x.begin());
        runner.run_layers(x.data(), n, l, l, tl[k], nullptr);
        const auto sums = runner.score(x.data(), chunk, first, n, nullptr, &dense);
        nll_sums[static_cast<size_t>(l)][k] += sums.nll;
        kl_sums[static_cast<size_t>(l)][k] += sums.kl;
        done += L - l + 1;
        if (progress) progress(done, total);
      }
    }
  }

  LayerSensitivity r;
  r.n_chunks = n_chunks;
  r.n_scored = static_cast<int64_t>(n_chunks) * perplexity_scored_per_chunk(n_ctx);
  const double scored = static_cast<double>(r.n_scored);
  r.dense_nll = dense_sum / scored;
  r.delta_nll.resize(static_cast<size_t>(L));
  r.kl.resize(static_cast<size_t>(L));
  for (size_t l = 0; l < static_cast<size_t>(L); ++l) {
    for (double s : nll_sums[l]) r.delta_nll[l].push_back(s / scored - r.dense_nll);
    for (double s : kl_sums[l]) r.kl[l].push_back(s / scored);
  }
  return r;
}

}  // namespace actinfer
