#include "engine/dense_engine.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/dequantize.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"

namespace actinfer {
namespace {

constexpr int64_t kRowAlign = 16;  // rows per thread start on this boundary

int default_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

// Quantizes B activation rows for one weight type; splits tokens over threads when B > 1.
void quantize_batch(ThreadPool& pool, QuantizedBatch& qb, GgmlType type, const float* x, int64_t n, int B, bool exact) {
  qb.resize(type, n, B, exact);
  if (B == 1) {
    qb.quantize(x, 0, 1);
    return;
  }
  pool.run([&](int ti, int nt) {
    const auto [t0, t1] = ThreadPool::split(B, ti, nt);
    qb.quantize(x, static_cast<int>(t0), static_cast<int>(t1));
  });
}

}  // namespace

// Per-weight-type quantized copies of the current layer input (matrices of one
// layer may differ in type, as in Q4_K_M files).
struct ActivationSet {
  bool exact = false;
  QuantizedBatch slots[3];
  const QuantizedBatch& get(ThreadPool& pool, GgmlType type, const float* x, int64_t n, int B, int& used) {
    for (int i = 0; i < used; ++i)
      if (slots[i].weight_type() == type) return slots[i];
    QuantizedBatch& qb = slots[used++];
    quantize_batch(pool, qb, type, x, n, B, exact);
    return qb;
  }
};

DenseEngine::DenseEngine(std::shared_ptr<const ModelWeights> weights, EngineOptions options)
    : weights_(std::move(weights)), pool_(default_threads(options.n_threads)) {
  const ModelConfig& c = weights_->config();
  if (options.n_ctx <= 0) throw std::invalid_argument("context length must be positive, got " + std::to_string(options.n_ctx));
  if (options.max_batch <= 0) throw std::invalid_argument("batch size must be positive, got " + std::to_string(options.max_batch));
  n_ctx_ = std::min(options.n_ctx, c.n_ctx_train);
  max_batch_ = options.max_batch;
  exact_ = options.exact_activations;
  if (options.max_layers < 0) throw std::invalid_argument("max_layers must be >= 0");
  n_layers_ = options.max_layers > 0 ? std::min(options.max_layers, c.n_layers) : c.n_layers;
  const size_t B = static_cast<size_t>(max_batch_);
  const size_t kv = static_cast<size_t>(c.n_kv_heads) * c.head_dim;
  const size_t wide = static_cast<size_t>(std::max(c.d_model, c.d_ff));
  x_.resize(B * c.d_model);
  xb_.resize(B * wide);
  q_.resize(B * c.d_model);
  k_.resize(B * kv);
  v_.resize(B * kv);
  att_.resize(B * c.d_model);
  hb_.resize(B * c.d_ff);
  hb2_.resize(B * wide);
  scores_.resize(static_cast<size_t>(pool_.size()) * n_ctx_);
  k_cache_.resize(static_cast<size_t>(c.n_layers) * n_ctx_ * kv);
  v_cache_.resize(static_cast<size_t>(c.n_layers) * n_ctx_ * kv);
}

void DenseEngine::rewind(int n) {
  if (n < 0 || n > n_past_) throw std::out_of_range("cannot rewind to position " + std::to_string(n) + " of " + std::to_string(n_past_));
  n_past_ = n;
}

std::span<const float> DenseEngine::logits(int i) const {
  if (n_logits_ == 0) throw std::logic_error("no logits: nothing evaluated yet");
  if (i < 0) i += n_logits_;
  if (i < 0 || i >= n_logits_) throw std::out_of_range("logits index " + std::to_string(i) + " of " + std::to_string(n_logits_));
  const size_t nv = static_cast<size_t>(config().n_vocab);
  return {logits_.data() + static_cast<size_t>(i) * nv, nv};
}

void DenseEngine::eval(std::span<const int32_t> tokens, bool all_logits) {
  const ModelConfig& c = config();
  if (tokens.empty()) throw std::invalid_argument("eval: no tokens");
  for (int32_t t : tokens)
    if (t < 0 || t >= c.n_vocab) throw std::out_of_range("token id " + std::to_string(t) + " outside the vocabulary of " + std::to_string(c.n_vocab));
  if (n_past_ + static_cast<int64_t>(tokens.size()) > n_ctx_)
    throw std::length_error("context full: " + std::to_string(n_past_) + " + " + std::to_string(tokens.size()) +
                            " tokens exceed the context of " + std::to_string(n_ctx_));
  n_logits_ = 0;
  logits_.resize((all_logits ? tokens.size() : 1) * static_cast<size_t>(c.n_vocab));
  for (size_t off = 0; off < tokens.size(); off += static_cast<size_t>(max_batch_)) {
    const size_t n = std::min(tokens.size() - off, static_cast<size_t>(max_batch_));
    const bool last = off + n == tokens.size();
    forward_batch(tokens.subspan(off, n), all_logits ? Logits::All : last ? Logits::Last : Logits::None);
  }
}

void DenseEngine::forward_batch(std::span<const int32_t> tokens, Logits wanted) {
  const ModelConfig& c = config();
  const ModelWeights& W = *weights_;
  const int B = static_cast<int>(tokens.size());
  const int64_t d = c.d_model, kv = static_cast<int64_t>(c.n_kv_heads) * c.head_dim, ff = c.d_ff;
  const int p0 = n_past_;

  for (int t = 0; t < B; ++t)
    dequantize_row(W.token_embedding().type, W.token_embedding().row(tokens[t]), &x_[t * d], d);

  ActivationSet acts;
  acts.exact = exact_;
  for (int l = 0; l < n_layers_; ++l) {
    const LayerWeights& L = W.layers()[static_cast<size_t>(l)];

    // Attention block.
    for (int t = 0; t < B; ++t) rms_norm(&x_[t * d], L.attn_norm.data(), &xb_[t * d], d, c.norm_eps);
    int used = 0;
    const QuantizedBatch& aq = acts.get(pool_, L.wq.type, xb_.data(), d, B, used);
    const QuantizedBatch& ak = acts.get(pool_, L.wk.type, xb_.data(), d, B, used);
    const QuantizedBatch& av = acts.get(pool_, L.wv.type, xb_.data(), d, B, used);
    pool_.run([&](int ti, int nt) {
      auto [q0, q1] = ThreadPool::split(d, ti, nt, kRowAlign);
      matmul_rows(L.wq, aq, q_.data(), d, q0, q1);
      auto [k0, k1] = ThreadPool::split(kv, ti, nt, kRowAlign);
      matmul_rows(L.wk, ak, k_.data(), kv, k0, k1);
      matmul_rows(L.wv, av, v_.data(), kv, k0, k1);
    });
    for (int t = 0; t < B; ++t) {
      float* q = &q_[t * d];
      float* k = &k_[t * kv];
      float* v = &v_[t * kv];
      if (!L.bq.empty()) axpy(1.0f, L.bq.data(), q, d);
      if (!L.bk.empty()) axpy(1.0f, L.bk.data(), k, kv);
      if (!L.bv.empty()) axpy(1.0f, L.bv.data(), v, kv);
      rope_inplace(q, c.n_heads, c.head_dim, c.rope_dims, p0 + t, c.rope_base);
      rope_inplace(k, c.n_kv_heads, c.head_dim, c.rope_dims, p0 + t, c.rope_base);
      const size_t slot = (static_cast<size_t>(l) * n_ctx_ + p0 + t) * kv;
      std::copy(k, k + kv, &k_cache_[slot]);
      std::copy(v, v + kv, &v_cache_[slot]);
    }
    attention(l, B);
    used = 0;
    const QuantizedBatch& ao = acts.get(pool_, L.wo.type, att_.data(), d, B, used);
    pool_.run([&](int ti, int nt) {
      auto [r0, r1] = ThreadPool::split(d, ti, nt, kRowAlign);
      matmul_rows(L.wo, ao, hb2_.data(), d, r0, r1);
      for (int t = 0; t < B; ++t) {
        float* x = &x_[t * d];
        const float* y = &hb2_[t * d];
        for (int64_t r = r0; r < r1; ++r) x[r] += y[r] + (L.bo.empty() ? 0.0f : L.bo[r]);
      }
    });

    // Feed-forward block.
    for (int t = 0; t < B; ++t) rms_norm(&x_[t * d], L.ffn_norm.data(), &xb_[t * d], d, c.norm_eps);
    used = 0;
    const QuantizedBatch& au = acts.get(pool_, L.up.type, xb_.data(), d, B, used);
    const QuantizedBatch* ag = c.gated_ffn ? &acts.get(pool_, L.gate.type, xb_.data(), d, B, used) : nullptr;
    pool_.run([&](int ti, int nt) {
      auto [r0, r1] = ThreadPool::split(ff, ti, nt, kRowAlign);
      matmul_rows(L.up, au, hb2_.data(), ff, r0, r1);
      if (ag) matmul_rows(L.gate, *ag, hb_.data(), ff, r0, r1);
      for (int t = 0; t < B; ++t) {
        float* h = &hb_[t * ff];
        const float* u = &hb2_[t * ff];
        if (ag) {
          for (int64_t r = r0; r < r1; ++r) h[r] = activate(c.activation, h[r]) * u[r];
        } else {
          for (int64_t r = r0; r < r1; ++r) h[r] = activate(c.activation, u[r]);
        }
      }
    });
    used = 0;
    const QuantizedBatch& ad = acts.get(pool_, L.down.type, hb_.data(), ff, B, used);
    pool_.run([&](int ti, int nt) {
      auto [r0, r1] = ThreadPool::split(d, ti, nt, kRowAlign);
      matmul_rows(L.down, ad, hb2_.data(), d, r0, r1);
      for (int t = 0; t < B; ++t) {
        float* x = &x_[t * d];
        const float* y = &hb2_[t * d];
        for (int64_t r = r0; r < r1; ++r) x[r] += y[r];
      }
    });
  }
  n_past_ += B;
  if (wanted == Logits::None) return;

  // Output head for the tokens whose logits are kept (all of them, or the last).
  const int first = wanted == Logits::Last ? B - 1 : 0;
  const int n_out = B - first;
  for (int t = 0; t < n_out; ++t)
    rms_norm(&x_[(first + t) * d], W.output_norm().data(), &xb_[t * d], d, c.norm_eps);
  QuantizedBatch out_in;
  quantize_batch(pool_, out_in, W.output().type, xb_.data(), d, n_out, exact_);
  float* dst = logits_.data() + static_cast<size_t>(n_logits_) * c.n_vocab;
  pool_.run([&](int ti, int nt) {
    auto [r0, r1] = ThreadPool::split(c.n_vocab, ti, nt, kRowAlign);
    matmul_rows(W.output(), out_in, dst, c.n_vocab, r0, r1);
  });
  n_logits_ += n_out;
}

void DenseEngine::attention(int layer, int B) {
  const ModelConfig& c = config();
  const int hd = c.head_dim;
  const int64_t d = c.d_model, kv = static_cast<int64_t>(c.n_kv_heads) * hd;
  const int group = c.n_heads / c.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float* kc = &k_cache_[static_cast<size_t>(layer) * n_ctx_ * kv];
  const float* vc = &v_cache_[static_cast<size_t>(layer) * n_ctx_ * kv];
  const int p0 = n_past_;
  pool_.run([&](int ti, int nt) {
    float* scores = &scores_[static_cast<size_t>(ti) * n_ctx_];
    const auto [w0, w1] = ThreadPool::split(static_cast<int64_t>(B) * c.n_heads, ti, nt);
    for (int64_t w = w0; w < w1; ++w) {
      const int t = static_cast<int>(w / c.n_heads), h = static_cast<int>(w % c.n_heads);
      const int kvh = h / group;
      const int n_pos = p0 + t + 1;
      const float* q = &q_[t * d + static_cast<int64_t>(h) * hd];
      for (int p = 0; p < n_pos; ++p) scores[p] = dot_f32(q, kc + p * kv + kvh * hd, hd) * scale;
      softmax_inplace(scores, n_pos);
      float* out = &att_[t * d + static_cast<int64_t>(h) * hd];
      std::fill(out, out + hd, 0.0f);
      for (int p = 0; p < n_pos; ++p) axpy(scores[p], vc + p * kv + kvh * hd, out, hd);
    }
  });
}

}  // namespace actinfer
