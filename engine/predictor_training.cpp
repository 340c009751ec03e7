#include "engine/predictor_training.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/gemm_f32.h"
#include "kernels/ggml_type.h"
#include "kernels/quantize.h"

namespace actinfer {
namespace {

// e^x to ~2e-7 relative for |x| < 87, branch-free so that loops over it vectorise
// (the sigmoid of every logit of every step would otherwise dominate a step).
inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 87.0f);
  const float t = x * 1.44269504f;
  const float fi = std::floor(t + 0.5f);
  const float f = (t - fi) * 0.693147181f;  // e^f with |f| <= ln2 / 2: Taylor to degree 6
  float p = 1.0f / 720;
  p = p * f + 1.0f / 120;
  p = p * f + 1.0f / 24;
  p = p * f + 1.0f / 6;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  return p * std::bit_cast<float>((static_cast<int32_t>(fi) + 127) << 23);
}

struct Splits {
  int64_t train = 0, calibration = 0, test = 0;
};

Splits split_tokens(int64_t n, const PredictorTrainOptions& o) {
  Splits s;
  s.test = static_cast<int64_t>(std::llround(static_cast<double>(n) * o.test_fraction));
  s.calibration = static_cast<int64_t>(std::llround(static_cast<double>(n) * o.calibration_fraction));
  s.train = n - s.test - s.calibration;
  if (s.test < 1 || s.calibration < 1 || s.train < 1)
    throw std::invalid_argument("predictor training needs tokens for training, calibration and test: " + std::to_string(n) +
                                " recorded give " + std::to_string(std::max<int64_t>(s.train, 0)) + " / " + std::to_string(s.calibration) +
                                " / " + std::to_string(s.test) + " (record more tokens)");
  return s;
}

void check_options(const LayerSamples& data, const PredictorTrainOptions& o) {
  auto fail = [](const std::string& m) { throw std::invalid_argument(m); };
  if (o.rank < 32 || o.rank % 32 != 0) fail("predictor rank must be a positive multiple of 32, got " + std::to_string(o.rank));
  if (data.d_model() % 32 != 0) fail("predictors need d_model a multiple of 32 (Q8_0 rows), got " + std::to_string(data.d_model()));
  if (o.epochs < 1) fail("predictor training needs at least one epoch");
  if (o.batch < 1) fail("predictor training batch must be positive");
  if (!(o.learning_rate > 0)) fail("learning rate must be positive");
  if (!(o.target_recall > 0 && o.target_recall <= 1)) fail("target recall must be in (0, 1], got " + std::to_string(o.target_recall));
  if (!(o.calibration_fraction > 0 && o.test_fraction > 0 && o.calibration_fraction + o.test_fraction < 1))
    fail("calibration and test fractions must be positive and leave tokens to train on");
  if (!(o.positive_weight >= 0)) fail("positive weight must be >= 0 (0: automatic)");
}

// Adam on one parameter vector.
struct AdamState {
  std::vector<float> m, v;
  explicit AdamState(size_t n) : m(n, 0.0f), v(n, 0.0f) {}
  void update(float* p, const float* g, size_t begin, size_t end, float lr, int step) {
    constexpr float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float c1 = 1.0f / (1.0f - std::pow(b1, static_cast<float>(step)));
    const float c2 = 1.0f / (1.0f - std::pow(b2, static_cast<float>(step)));
    for (size_t i = begin; i < end; ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      p[i] -= lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
    }
  }
};

// The float model and every buffer of a step.
class Trainer {
 public:
  Trainer(ThreadPool& pool, const LayerSamples& data, const PredictorTrainOptions& o, int64_t n_train, double pos_weight)
      : pool_(pool), data_(data), d_(data.d_model()), F_(data.d_ff()), r_(o.rank), B_(static_cast<int>(std::min<int64_t>(o.batch, n_train))),
        pos_weight_(static_cast<float>(pos_weight)),
        w1t_(sz(d_) * sz(r_)), w2t_(sz(r_) * sz(F_)), b_(sz(F_)), w2_(w2t_.size()),
        g1_(w1t_.size()), g2_(w2t_.size()), gb_(b_.size()), a1_(w1t_.size()), a2_(w2t_.size()), ab_(b_.size()),
        xb_(sz(B_) * sz(d_)), xbt_(xb_.size()), hpre_(sz(B_) * sz(r_)), h_(hpre_.size()), ht_(hpre_.size()), dh_(hpre_.size()),
        z_(sz(B_) * sz(F_)), y_(z_.size()), row_loss_(sz(B_)) {
    input_scales(n_train);
    Rng rng(o.seed);
    const double s1 = std::sqrt(2.0 / d_), s2 = 0.5 / std::sqrt(static_cast<double>(r_));
    for (float& w : w1t_) w = static_cast<float>(rng.normal() * s1);
    for (float& w : w2t_) w = static_cast<float>(rng.normal() * s2);
    // Each neuron starts at its firing rate: the model only has to learn the token's part.
    std::vector<int64_t> fired(sz(F_), 0);
    for (int64_t t = 0; t < n_train; ++t)
      for (int i = 0; i < F_; ++i) fired[sz(i)] += data.fired(t, i);
    for (int i = 0; i < F_; ++i) {
      const double p = std::clamp(static_cast<double>(fired[sz(i)]) / static_cast<double>(n_train), 1e-3, 1 - 1e-3);
      b_[sz(i)] = static_cast<float>(std::log(p / (1 - p)));
    }
    transpose_f32(w2t_.data(), sz(F_), w2_.data(), sz(r_), r_, 0, F_);
  }

  int batch() const { return B_; }

  // One Adam step on the tokens idx[0..n); returns the summed weighted loss when asked.
  double step(const int64_t* idx, int n, float lr, int step_no, bool want_loss) {
    forward_backward(idx, n, want_loss);
    gradients(n);
    pool_.run([&](int t, int nt) {
      const auto [i0, i1] = ThreadPool::split(r_, t, nt);
      const size_t F = sz(F_);
      a2_.update(w2t_.data(), g2_.data(), sz(i0) * F, sz(i1) * F, lr, step_no);
      // w2 = w2t transposed, for the next step's backward pass: this thread's rows.
      if (i1 > i0) transpose_f32(w2t_.data() + sz(i0) * F, F, w2_.data() + i0, sz(r_), i1 - i0, 0, F_);
      const auto [k0, k1] = ThreadPool::split(d_, t, nt);
      a1_.update(w1t_.data(), g1_.data(), sz(k0) * sz(r_), sz(k1) * sz(r_), lr, step_no);
      const auto [f0, f1] = ThreadPool::split(F_, t, nt);
      ab_.update(b_.data(), gb_.data(), sz(f0), sz(f1), lr, step_no);
    });
    double loss = 0;
    if (want_loss)
      for (int b = 0; b < n; ++b) loss += row_loss_[sz(b)];
    return loss;
  }

  // The trained model, quantized; the input scales folded into fc1.
  PredictorLayer export_layer() const {
    PredictorLayer p;
    p.d_model = d_;
    p.d_ff = F_;
    p.rank = r_;
    const size_t rb1 = static_cast<size_t>(row_bytes(GgmlType::Q8_0, d_)), rb2 = static_cast<size_t>(row_bytes(GgmlType::Q8_0, r_));
    p.fc1.resize(sz(r_) * rb1);
    p.fc2.resize(sz(F_) * rb2);
    std::vector<float> row(sz(std::max(d_, r_)));
    for (int j = 0; j < r_; ++j) {
      for (int k = 0; k < d_; ++k) row[sz(k)] = w1t_[sz(k) * sz(r_) + sz(j)] * inv_s_[sz(k)];
      quantize_row(GgmlType::Q8_0, row.data(), p.fc1.data() + sz(j) * rb1, d_);
    }
    for (int i = 0; i < F_; ++i) quantize_row(GgmlType::Q8_0, w2_.data() + sz(i) * sz(r_), p.fc2.data() + sz(i) * rb2, r_);
    p.bias = b_;
    return p;
  }

 private:
  static size_t sz(int64_t v) { return static_cast<size_t>(v); }

  // s_k: the RMS of channel k over the training tokens (floored so a dead channel does
  // not blow up its noise).
  void input_scales(int64_t n_train) {
    std::vector<double> ss(sz(d_), 0.0);
    std::vector<float> x(sz(d_));
    for (int64_t t = 0; t < n_train; ++t) {
      data_.input(t, x.data());
      for (int k = 0; k < d_; ++k) ss[sz(k)] += static_cast<double>(x[sz(k)]) * x[sz(k)];
    }
    double mean = 0;
    for (double& v : ss) mean += (v = std::sqrt(v / static_cast<double>(n_train)));
    mean /= d_;
    inv_s_.resize(sz(d_));
    for (int k = 0; k < d_; ++k) inv_s_[sz(k)] = static_cast<float>(1.0 / std::max({ss[sz(k)], 1e-2 * mean, 1e-30}));
  }

  // Per token (rows split between threads): inputs, hidden, logits, dL/dz, dL/dhpre.
  void forward_backward(const int64_t* idx, int n, bool want_loss) {
    pool_.run([&](int t, int nt) {
      const auto [m0, m1] = ThreadPool::split(n, t, nt);
      if (m0 >= m1) return;
      const size_t d = sz(d_), r = sz(r_), F = sz(F_);
      for (int64_t b = m0; b < m1; ++b) {
        float* x = xb_.data() + sz(b) * d;
        data_.input(idx[b], x);
        for (size_t k = 0; k < d; ++k) x[k] *= inv_s_[k];
        std::fill_n(hpre_.data() + sz(b) * r, r, 0.0f);
        std::copy(b_.begin(), b_.end(), z_.data() + sz(b) * F);
        const uint64_t* bits = data_.fired_bits(idx[b]);
        float* y = y_.data() + sz(b) * F;
        for (size_t i = 0; i < F; ++i) y[i] = static_cast<float>((bits[i / 64] >> (i % 64)) & 1u);
      }
      gemm_f32_acc(xb_.data(), d, w1t_.data(), r, hpre_.data(), r, m0, m1, 0, r_, d_);
      for (size_t e = sz(m0) * r; e < sz(m1) * r; ++e) h_[e] = std::max(hpre_[e], 0.0f);
      gemm_f32_acc(h_.data(), r, w2t_.data(), F, z_.data(), F, m0, m1, 0, F_, r_);
      const float inv_n = 1.0f / static_cast<float>(n), pw = pos_weight_;
      for (int64_t b = m0; b < m1; ++b) {
        float* z = z_.data() + sz(b) * F;
        const float* y = y_.data() + sz(b) * F;
        if (want_loss) {
          // Weighted BCE: softplus(-z) for a firing neuron, softplus(z) otherwise.
          double loss = 0;
          for (size_t i = 0; i < F; ++i) {
            const float s = y[i] > 0 ? -z[i] : z[i];
            loss += (y[i] > 0 ? pw : 1.0f) * (std::max(s, 0.0f) + std::log1p(exp_approx(-std::fabs(s))));
          }
          row_loss_[sz(b)] = loss;
        }
        for (size_t i = 0; i < F; ++i) {
          const float p = 1.0f / (1.0f + exp_approx(-z[i]));
          const float w = 1.0f + (pw - 1.0f) * y[i];
          z[i] = w * (p - y[i]) * inv_n;  // z becomes dL/dz
        }
      }
      std::fill(dh_.begin() + static_cast<ptrdiff_t>(sz(m0) * r), dh_.begin() + static_cast<ptrdiff_t>(sz(m1) * r), 0.0f);
      gemm_f32_acc(z_.data(), F, w2_.data(), r, dh_.data(), r, m0, m1, 0, r_, F_);
      for (size_t e = sz(m0) * r; e < sz(m1) * r; ++e)
        if (hpre_[e] <= 0.0f) dh_[e] = 0.0f;
    });
  }

  // Weight gradients (each thread owns rows of g1 and g2 and a range of gb).
  void gradients(int n) {
    pool_.run([&](int t, int nt) {
      const size_t d = sz(d_), r = sz(r_), F = sz(F_), B = sz(B_);
      // g2[j][:] = sum_b h[b][j] dz[b][:]: needs h's columns j of this thread, transposed.
      const auto [j0, j1] = ThreadPool::split(r_, t, nt, 4);
      if (j1 > j0) {
        transpose_f32(h_.data(), r, ht_.data(), B, n, j0, j1);
        std::fill(g2_.begin() + static_cast<ptrdiff_t>(sz(j0) * F), g2_.begin() + static_cast<ptrdiff_t>(sz(j1) * F), 0.0f);
        gemm_f32_acc(ht_.data(), B, z_.data(), F, g2_.data(), F, j0, j1, 0, F_, n);
      }
      // g1[k][:] = sum_b x[b][k] dhpre[b][:].
      const auto [k0, k1] = ThreadPool::split(d_, t, nt, 4);
      if (k1 > k0) {
        transpose_f32(xb_.data(), d, xbt_.data(), B, n, k0, k1);
        std::fill(g1_.begin() + static_cast<ptrdiff_t>(sz(k0) * r), g1_.begin() + static_cast<ptrdiff_t>(sz(k1) * r), 0.0f);
        gemm_f32_acc(xbt_.data(), B, dh_.data(), r, g1_.data(), r, k0, k1, 0, r_, n);
      }
      const auto [f0, f1] = ThreadPool::split(F_, t, nt);
      for (int64_t i = f0; i < f1; ++i) {
        float s = 0;
        for (int b = 0; b < n; ++b) s += z_[sz(b) * F + sz(i)];
        gb_[sz(i)] = s;
      }
    });
  }

  ThreadPool& pool_;
  const LayerSamples& data_;
  int d_, F_, r_, B_;
  float pos_weight_;
  std::vector<float> inv_s_;
  std::vector<float> w1t_, w2t_, b_, w2_;  // w1t [d][r], w2t [r][F], b [F], w2 = w2t^T [F][r]
  std::vector<float> g1_, g2_, gb_;
  AdamState a1_, a2_, ab_;
  std::vector<float> xb_, xbt_, hpre_, h_, ht_, dh_, z_, y_;
  std::vector<double> row_loss_;
};

// The logits of every firing neuron of tokens [begin, end), in token order.
std::vector<float> firing_logits(ThreadPool& pool, const PredictorLayer& p, const LayerSamples& data, int64_t begin, int64_t end) {
  std::vector<std::vector<float>> part(static_cast<size_t>(pool.size()));
  pool.run([&](int t, int nt) {
    const auto [a, b] = ThreadPool::split(end - begin, t, nt);
    PredictorScratch s;
    std::vector<float> x(static_cast<size_t>(p.d_model)), z(static_cast<size_t>(p.d_ff));
    for (int64_t k = begin + a; k < begin + b; ++k) {
      data.input(k, x.data());
      p.logits(x.data(), z.data(), s);
      for (int i = 0; i < p.d_ff; ++i)
        if (data.fired(k, i)) part[static_cast<size_t>(t)].push_back(z[static_cast<size_t>(i)]);
    }
  });
  std::vector<float> all;
  for (const auto& v : part) all.insert(all.end(), v.begin(), v.end());
  return all;
}

}  // namespace

double PredictionQuality::recall() const {
  const int64_t pos = true_positive + false_negative;
  return pos ? static_cast<double>(true_positive) / static_cast<double>(pos) : 1.0;
}

double PredictionQuality::precision() const {
  const int64_t pred = true_positive + false_positive;
  return pred ? static_cast<double>(true_positive) / static_cast<double>(pred) : 1.0;
}

double PredictionQuality::predicted_active(int d_ff) const {
  return tokens ? static_cast<double>(true_positive + false_positive) / (static_cast<double>(tokens) * d_ff) : 0.0;
}

double PredictionQuality::true_active(int d_ff) const {
  return tokens ? static_cast<double>(true_positive + false_negative) / (static_cast<double>(tokens) * d_ff) : 0.0;
}

PredictionQuality evaluate_predictor(ThreadPool& pool, const PredictorLayer& p, const LayerSamples& data, int64_t begin, int64_t end) {
  if (p.d_model != data.d_model() || p.d_ff != data.d_ff()) throw std::invalid_argument("predictor and samples differ in shape");
  if (begin < 0 || end > data.size() || begin > end) throw std::invalid_argument("token range outside the samples");
  std::vector<PredictionQuality> part(static_cast<size_t>(pool.size()));
  pool.run([&](int t, int nt) {
    const auto [a, b] = ThreadPool::split(end - begin, t, nt);
    PredictorScratch s;
    std::vector<float> x(static_cast<size_t>(p.d_model)), z(static_cast<size_t>(p.d_ff));
    PredictionQuality& q = part[static_cast<size_t>(t)];
    for (int64_t k = begin + a; k < begin + b; ++k) {
      data.input(k, x.data());
      p.logits(x.data(), z.data(), s);
      for (int i = 0; i < p.d_ff; ++i) {
        const bool fired = data.fired(k, i), predicted = z[static_cast<size_t>(i)] >= 0.0f;
        q.true_positive += fired && predicted;
        q.false_positive += !fired && predicted;
        q.false_negative += fired && !predicted;
      }
      ++q.tokens;
    }
  });
  PredictionQuality all;
  for (const auto& q : part) {
    all.tokens += q.tokens;
    all.true_positive += q.true_positive;
    all.false_positive += q.false_positive;
    all.false_negative += q.false_negative;
  }
  return all;
}

TrainedPredictor train_predictor(ThreadPool& pool, const LayerSamples& data, const PredictorTrainOptions& o,
                                 const PredictorTrainProgress& progress) {
  check_options(data, o);
  const auto t0 = std::chrono::steady_clock::now();
  const Splits sp = split_tokens(data.size(), o);
  TrainedPredictor out;
  PredictorTrainReport& rep = out.report;
  rep.n_train = sp.train;
  rep.n_calibration = sp.calibration;
  rep.n_test = sp.test;
  if (o.positive_weight > 0) {
    rep.positive_weight = o.positive_weight;
  } else {
    const double p = static_cast<double>(data.count_fired(0, sp.train)) / (static_cast<double>(sp.train) * data.d_ff());
    rep.positive_weight = p > 0 ? std::clamp(std::sqrt((1 - p) / p), 1.0, 10.0) : 1.0;
  }

  Trainer trainer(pool, data, o, sp.train, rep.positive_weight);
  Rng order_rng(o.seed ^ 0x5DEECE66Dull);
  std::vector<int64_t> order(static_cast<size_t>(sp.train));
  std::iota(order.begin(), order.end(), int64_t{0});
  const int64_t B = trainer.batch(), steps_per_epoch = (sp.train + B - 1) / B, total = steps_per_epoch * o.epochs;
  int step_no = 0;
  for (int e = 0; e < o.epochs; ++e) {
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[order_rng.below(i)]);
    const bool want_loss = e == 0 || e == o.epochs - 1;
    double loss = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const int64_t begin = s * B, n = std::min(B, sp.train - begin);
      // Cosine decay from the learning rate to 5% of it.
      const double frac = static_cast<double>(step_no) / static_cast<double>(std::max<int64_t>(total - 1, 1));
      const float lr = static_cast<float>(o.learning_rate * (0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * frac))));
      loss += trainer.step(order.data() + begin, static_cast<int>(n), lr, ++step_no, want_loss);
      if (progress) progress(e, o.epochs, s, steps_per_epoch);
    }
    const double mean = loss / (static_cast<double>(sp.train) * data.d_ff());
    if (e == 0) rep.first_loss = mean;
    if (e == o.epochs - 1) rep.last_loss = mean;
  }

  out.layer = trainer.export_layer();
  // The decision threshold: keep ceil(target * P) of the P calibration firings.
  const int64_t cal0 = sp.train, cal1 = sp.train + sp.calibration;
  std::vector<float> pos = firing_logits(pool, out.layer, data, cal0, cal1);
  if (!pos.empty()) {
    const size_t misses = std::min(pos.size() - 1, static_cast<size_t>(std::floor((1.0 - o.target_recall) * static_cast<double>(pos.size()))));
    std::nth_element(pos.begin(), pos.begin() + static_cast<ptrdiff_t>(misses), pos.end());
    const float z = pos[misses];
    // A hair past -z so that rounding in the biased sum cannot drop that neuron again.
    rep.shift = -z + 1e-5f * (1.0f + std::fabs(z));
    for (float& b : out.layer.bias) b += rep.shift;
  }
  rep.calibration = evaluate_predictor(pool, out.layer, data, cal0, cal1);
  rep.test = evaluate_predictor(pool, out.layer, data, cal1, data.size());
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

int rank_for_budget(int n_layers, int d_model, int d_ff, uint64_t budget_bytes) {
  const int max_rank = (d_model + 31) / 32 * 32;
  int best = 0;
  for (int r = 32; r <= max_rank; r += 32)
    if (static_cast<uint64_t>(n_layers) * predictor_layer_bytes(d_model, d_ff, r) <= budget_bytes) best = r;
  return best;
}

std::vector<int> ranks_for_budget(const std::vector<double>& difficulty, int d_model, int d_ff, uint64_t budget_bytes) {
  const int max_rank = (d_model + 31) / 32 * 32;
  std::vector<int> ranks(difficulty.size(), 32);
  uint64_t used = 0;
  for (int r : ranks) used += predictor_layer_bytes(d_model, d_ff, r);
  if (used > budget_bytes) return {};
  for (;;) {
    int best = -1;
    double best_value = -1;
    for (size_t l = 0; l < ranks.size(); ++l) {
      if (ranks[l] + 32 > max_rank) continue;
      const uint64_t step = predictor_layer_bytes(d_model, d_ff, ranks[l] + 32) - predictor_layer_bytes(d_model, d_ff, ranks[l]);
      if (used + step > budget_bytes) continue;
      const double value = std::max(difficulty[l], 1e-9) / ranks[l];
      if (value > best_value) best_value = value, best = static_cast<int>(l);  // ties: the lowest layer
    }
    if (best < 0) return ranks;
    const auto l = static_cast<size_t>(best);
    used += predictor_layer_bytes(d_model, d_ff, ranks[l] + 32) - predictor_layer_bytes(d_model, d_ff, ranks[l]);
    ranks[l] += 32;
  }
}

double firing_entropy(double p) {
  if (p <= 0 || p >= 1) return 0;
  return -(p * std::log2(p) + (1 - p) * std::log2(1 - p));
}

}  // namespace actinfer
