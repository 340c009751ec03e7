#include "engine/layer_ops.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "engine/attention.h"
#include "kernels/dequantize.h"
#include "kernels/elementwise.h"
#include "kernels/gemm_float.h"

namespace actinfer {
namespace {

constexpr int64_t kRowAlign = 16;  // rows per thread start on this boundary
constexpr int kPartsPerThread = 8;  // row parts per thread of a prompt batch
constexpr int kFinePartsFrom = 16;  // tokens of a batch from which its matmuls take them

// How a matmul's rows are cut into pool parts. A decode step takes one part per thread. A
// prompt batch (milliseconds per part) takes about kPartsPerThread parts per thread, each a
// whole number of the GEMM's row blocks: the thread that finishes first (the other woke late,
// or shares its core) claims the rest instead of waiting, which took 10.9% of a pp512 F16
// prompt and 4.6% of a Q4_0 one on a 2-vCPU host. Rows are independent: the cut does not
// change the bits.
struct RowCut {
  int64_t rows = 0;
  int parts = 1;
  int64_t align = kRowAlign;
  std::pair<int64_t, int64_t> part(int p) const { return ThreadPool::split(rows, p, parts, align); }
};

RowCut row_cut(const ThreadPool& pool, const QuantizedBatch& x, int64_t rows) {
  if (x.batch() < kFinePartsFrom) return {rows, pool.size(), kRowAlign};
  const int64_t align = x.float_gemm() ? std::lcm(kRowAlign, gemm_float_row_block()) : kRowAlign;
  const int64_t blocks = (rows + align - 1) / align;
  const int max_parts = pool.size() * kPartsPerThread;
  return {rows, static_cast<int>(std::clamp<int64_t>(blocks, pool.size(), max_parts)), align};
}

void quantize_into(ThreadPool& pool, QuantizedBatch& qb, GgmlType type, const float* x, int64_t n, int B, bool exact, BatchKernels kernels) {
  qb.resize(type, n, B, exact, kernels);
  if (B == 1) {
    qb.quantize(x, 0, 1);
    return;
  }
  pool.run([&](int ti, int nt) {
    const auto [t0, t1] = ThreadPool::split(B, ti, nt, QuantizedBatch::kTokenAlign);
    qb.quantize(x, static_cast<int>(t0), static_cast<int>(t1));
  });
}

// The columns [c0, c1) of a row-major weight matrix, as a matrix of its own
// (c0, c1 on the type's block boundaries).
WeightMatrix column_range(const WeightMatrix& w, int64_t c0, int64_t c1) {
  WeightMatrix sub = w;
  sub.cols = c1 - c0;
  sub.data = w.data + row_bytes(w.type, c0);
  return sub;
}

// y[B][d] += the down projection of the neurons in run r (on the down type's block
// boundaries) from h[B][n_neurons] (row stride n_neurons), quantized one run at a time.
void add_down_run(ThreadPool& pool, Workspace& ws, const FfnWeights& L, const float* h, int B, const NeuronRun& r, float* y) {
  const int64_t d = L.d_model(), ff = L.n_neurons();
  const WeightMatrix down = column_range(L.down, r.begin, r.end);
  QuantizedBatch& qh = ws.down_input;
  qh.resize(L.down.type, r.end - r.begin, B, ws.exact(), ws.batch_kernels());
  const float* h_run = h + r.begin;
  if (B == 1) {
    qh.quantize(h_run, ff, 0, 1);
  } else {
    pool.run([&](int ti, int nt) {
      const auto [t0, t1] = ThreadPool::split(B, ti, nt, QuantizedBatch::kTokenAlign);
      qh.quantize(h_run, ff, static_cast<int>(t0), static_cast<int>(t1));
    });
  }
  const RowCut cut = row_cut(pool, qh, d);
  pool.run_parts(cut.parts, [&](int p, int) {
    auto [r0, r1] = cut.part(p);
    matmul_rows(down, qh, ws.tmp.data(), d, r0, r1);
    for (int t = 0; t < B; ++t) {
      float* yt = &y[t * d];
      const float* part = &ws.tmp[t * d];
      for (int64_t i = r0; i < r1; ++i) yt[i] += part[i];
    }
  });
}

}  // namespace

Workspace::Workspace(const ModelConfig& c, int max_batch, bool exact_activations)
    : max_batch_(max_batch), exact_(exact_activations) {
  const size_t B = static_cast<size_t>(max_batch);
  const size_t kv = static_cast<size_t>(c.n_kv_heads) * c.head_dim;
  const size_t wide = static_cast<size_t>(std::max(c.d_model, c.d_ff));
  const size_t qd = static_cast<size_t>(c.q_dim());
  xb.resize(B * wide);
  q.resize(B * qd);
  k.resize(B * kv);
  v.resize(B * kv);
  att.resize(B * qd);
  hb.resize(B * c.d_ff);
  hb2.resize(B * wide);
  tmp.resize(B * wide);
  ffn_out.resize(B * c.d_model);
}

const QuantizedBatch& Workspace::quantized(ThreadPool& pool, GgmlType type, const float* x, int64_t n, int B) {
  for (int i = 0; i < n_quantized_; ++i)
    if (slots_[i].weight_type() == type) return slots_[i];
  if (n_quantized_ == 4) n_quantized_ = 0;
  QuantizedBatch& qb = slots_[n_quantized_++];
  quantize_into(pool, qb, type, x, n, B, exact_, batch_kernels());
  return qb;
}

const float* Workspace::rope_rotations(const ModelConfig& c, float base, std::span<const int> positions) {
  const auto per_token = static_cast<size_t>(c.rope_dims);
  RopeTable* table = rope_[0].base == base ? &rope_[0] : rope_[1].base == base ? &rope_[1] : nullptr;
  if (!table) {
    table = &rope_[rope_next_];
    rope_next_ = 1 - rope_next_;
    table->base = base;
    table->positions.clear();
  }
  if (!std::equal(positions.begin(), positions.end(), table->positions.begin(), table->positions.end())) {
    table->cs.resize(per_token * positions.size());
    for (size_t t = 0; t < positions.size(); ++t) actinfer::rope_rotations(c.rope_dims, positions[t], base, &table->cs[per_token * t]);
    table->positions.assign(positions.begin(), positions.end());
  }
  return table->cs.data();
}

void embed_tokens(const ModelWeights& w, std::span<const int32_t> tokens, float* x) {
  const int64_t d = w.config().d_model;
  const float scale = w.config().embed_scale;
  for (size_t t = 0; t < tokens.size(); ++t) {
    float* xt = x + static_cast<int64_t>(t) * d;
    dequantize_row(w.token_embedding().type, w.token_embedding().row(tokens[t]), xt, d);
    if (scale != 1.0f)
      for (int64_t i = 0; i < d; ++i) xt[i] *= scale;
  }
}

void attention_block(ThreadPool& pool, Workspace& ws, const ModelWeights& w, KvCache& cache, int layer, int pos0, int B, float* x) {
  const AttentionSequence one{&cache, pos0, 0, B};
  attention_block(pool, ws, w, layer, std::span(&one, 1), x);
}

void attention_block(ThreadPool& pool, Workspace& ws, const ModelWeights& w, int layer, std::span<const AttentionSequence> sequences, float* x) {
  const ModelConfig& c = w.config();
  const LayerWeights& L = w.layers()[static_cast<size_t>(layer)];
  const int64_t d = c.d_model, kv = static_cast<int64_t>(c.n_kv_heads) * c.head_dim, qd = c.q_dim();
  // Every sequence's rows go through the projections together (one pass over the weights).
  int B = 0;
  for (const AttentionSequence& s : sequences) B = std::max(B, s.row0 + s.n_tokens);
  for (int t = 0; t < B; ++t) rms_norm(&x[t * d], L.attn_norm.data(), &ws.xb[t * d], d, c.norm_eps);
  ws.new_input();
  const QuantizedBatch& aq = ws.quantized(pool, L.wq.type, ws.xb.data(), d, B);
  const QuantizedBatch& ak = ws.quantized(pool, L.wk.type, ws.xb.data(), d, B);
  const QuantizedBatch& av = ws.quantized(pool, L.wv.type, ws.xb.data(), d, B);
  // Parts of wq's rows, then parts of wk's and wv's (the same rows of both).
  const RowCut cut_q = row_cut(pool, aq, qd), cut_kv = row_cut(pool, ak, kv);
  pool.run_parts(cut_q.parts + cut_kv.parts, [&](int p, int) {
    if (p < cut_q.parts) {
      auto [q0, q1] = cut_q.part(p);
      matmul_rows(L.wq, aq, ws.q.data(), qd, q0, q1);
      return;
    }
    auto [k0, k1] = cut_kv.part(p - cut_q.parts);
    matmul_rows(L.wk, ak, ws.k.data(), kv, k0, k1);
    matmul_rows(L.wv, av, ws.v.data(), kv, k0, k1);
  });
  ws.positions.assign(static_cast<size_t>(B), 0);
  for (const AttentionSequence& s : sequences)
    for (int t = 0; t < s.n_tokens; ++t) ws.positions[static_cast<size_t>(s.row0 + t)] = s.pos0 + t;
  const float* rope = ws.rope_rotations(c, c.layer_rope_base(layer), ws.positions);
  const auto rope_apply_fn = c.rope_neox ? rope_apply_neox : rope_apply;
  const int hd = c.head_dim;
  for (const AttentionSequence& s : sequences)
    for (int t = s.row0; t < s.row0 + s.n_tokens; ++t) {
      float* q = &ws.q[t * qd];
      float* k = &ws.k[t * kv];
      float* v = &ws.v[t * kv];
      if (!L.bq.empty()) axpy(1.0f, L.bq.data(), q, qd);
      if (!L.bk.empty()) axpy(1.0f, L.bk.data(), k, kv);
      if (!L.bv.empty()) axpy(1.0f, L.bv.data(), v, kv);
      if (!L.attn_q_norm.empty())
        for (int h = 0; h < c.n_heads; ++h) rms_norm(q + h * hd, L.attn_q_norm.data(), q + h * hd, hd, c.norm_eps);
      if (!L.attn_k_norm.empty())
        for (int h = 0; h < c.n_kv_heads; ++h) rms_norm(k + h * hd, L.attn_k_norm.data(), k + h * hd, hd, c.norm_eps);
      const float* cs = rope + static_cast<size_t>(t) * static_cast<size_t>(c.rope_dims);
      rope_apply_fn(q, c.n_heads, hd, c.rope_dims, cs);
      rope_apply_fn(k, c.n_kv_heads, hd, c.rope_dims, cs);
      s.cache->store(layer, s.pos0 + (t - s.row0), k, v);
    }

  // Causal grouped-query attention over the cache; a local layer's query sees only the
  // last sliding_window positions.
  const AttentionShape shape{c.n_heads, c.n_kv_heads, hd, c.attn_scale, c.is_local_layer(layer) ? c.sliding_window : 0};
  grouped_attention(pool, layer, shape, sequences, ws.q.data(), ws.att.data(), ws.attn_partials);

  ws.new_input();
  const QuantizedBatch& ao = ws.quantized(pool, L.wo.type, ws.att.data(), qd, B);
  const bool post_norm = !L.post_attn_norm.empty();
  const RowCut cut = row_cut(pool, ao, d);
  pool.run_parts(cut.parts, [&](int p, int) {
    auto [r0, r1] = cut.part(p);
    matmul_rows(L.wo, ao, ws.tmp.data(), d, r0, r1);
    if (post_norm) return;  // the norm needs whole rows: added below
    for (int t = 0; t < B; ++t) {
      float* xt = &x[t * d];
      const float* y = &ws.tmp[t * d];
      for (int64_t r = r0; r < r1; ++r) xt[r] += y[r] + (L.bo.empty() ? 0.0f : L.bo[r]);
    }
  });
  if (post_norm) {
    for (int t = 0; t < B; ++t) {
      float* y = &ws.tmp[t * d];
      if (!L.bo.empty()) axpy(1.0f, L.bo.data(), y, d);
      rms_norm_add(y, L.post_attn_norm.data(), &x[t * d], d, c.norm_eps);
    }
  }
}

void ffn_norm(const ModelWeights& w, int layer, const float* x, float* xn, int B) {
  const ModelConfig& c = w.config();
  const LayerWeights& L = w.layers()[static_cast<size_t>(layer)];
  for (int t = 0; t < B; ++t) rms_norm(&x[t * c.d_model], L.ffn_norm.data(), &xn[t * c.d_model], c.d_model, c.norm_eps);
}

void add_ffn_output(const ModelWeights& w, int layer, const float* y, float* x, int B) {
  const ModelConfig& c = w.config();
  const std::vector<float>& norm = w.layers()[static_cast<size_t>(layer)].post_ffn_norm;
  const int64_t d = c.d_model;
  for (int t = 0; t < B; ++t) {
    const float* yt = y + t * d;
    float* xt = x + t * d;
    if (!norm.empty()) {
      rms_norm_add(yt, norm.data(), xt, d, c.norm_eps);
    } else {
      for (int64_t i = 0; i < d; ++i) xt[i] += yt[i];
    }
  }
}

void dense_ffn_residual(ThreadPool& pool, Workspace& ws, const ModelWeights& w, int layer, const float* xn, int B, float* x) {
  const FfnWeights f = FfnWeights::of_layer(w, layer);
  const NeuronSlice all = NeuronSlice::all(static_cast<int32_t>(f.n_neurons()));
  if (w.layers()[static_cast<size_t>(layer)].post_ffn_norm.empty()) {
    ffn_block(pool, ws, f, xn, B, all, {}, x, true);
    return;
  }
  ffn_block(pool, ws, f, xn, B, all, {}, ws.ffn_out.data(), false);
  add_ffn_output(w, layer, ws.ffn_out.data(), x, B);
}

FfnWeights FfnWeights::of_layer(const ModelWeights& w, int layer) {
  const LayerWeights& L = w.layers()[static_cast<size_t>(layer)];
  return {L.gate, L.up, L.down, w.config().activation};
}

void ffn_block(ThreadPool& pool, Workspace& ws, const FfnWeights& L, const float* xn, int B,
               const NeuronSlice& slice, const std::vector<uint8_t>& active, float* y, bool accumulate) {
  const int64_t d = L.d_model(), ff = L.n_neurons();
  const bool gated = L.gate.rows > 0;
  if (!accumulate) std::fill(y, y + B * d, 0.0f);
  if (slice.empty()) return;

  // The down projection reads whole quantization blocks of neurons: widen each
  // run to block boundaries (neurons outside the slice contribute h = 0 there).
  const int64_t block = traits(L.down.type).block_elems;
  std::vector<NeuronRun> down_runs;
  for (const NeuronRun& r : slice.runs) {
    const auto b = static_cast<int32_t>(r.begin / block * block);
    const auto e = static_cast<int32_t>(std::min<int64_t>(ff, (r.end + block - 1) / block * block));
    if (!down_runs.empty() && down_runs.back().end >= b) down_runs.back().end = std::max(down_runs.back().end, e);
    else down_runs.push_back({b, e});
  }

  ws.new_input();
  const QuantizedBatch& au = ws.quantized(pool, L.up.type, xn, d, B);
  const QuantizedBatch* ag = gated ? &ws.quantized(pool, L.gate.type, xn, d, B) : nullptr;
  float* h = ws.hb.data();
  float* u = ws.hb2.data();
  if (down_runs != slice.runs)
    pool.run([&](int ti, int nt) {
      for (const NeuronRun& r : down_runs)  // zero the block padding around owned neurons
        for (int t = 0; t < B; ++t) {
          auto [z0, z1] = ThreadPool::split(r.end - r.begin, ti, nt);
          std::fill(&h[t * ff + r.begin + z0], &h[t * ff + r.begin + z1], 0.0f);
        }
    });
  // One run (the dense FFN) is cut as any matmul; several are split per thread.
  const RowCut cut = slice.runs.size() == 1 ? row_cut(pool, au, slice.runs[0].end - slice.runs[0].begin)
                                            : RowCut{0, pool.size(), kRowAlign};
  pool.run_parts(cut.parts, [&](int p, int n_parts) {
    for (const NeuronRun& r : slice.runs) {
      auto [o0, o1] = ThreadPool::split(r.end - r.begin, p, n_parts, cut.align);
      const int64_t r0 = r.begin + o0, r1 = r.begin + o1;
      matmul_rows(L.up, au, u, ff, r0, r1);
      if (ag) matmul_rows(L.gate, *ag, h, ff, r0, r1);
      for (int t = 0; t < B; ++t) {
        float* ht = &h[t * ff];
        const float* ut = &u[t * ff];
        if (ag) {
          activate_inplace(L.activation, ht + r0, r1 - r0);
          for (int64_t i = r0; i < r1; ++i) ht[i] *= ut[i];
        } else {
          std::copy(ut + r0, ut + r1, ht + r0);
          activate_inplace(L.activation, ht + r0, r1 - r0);
        }
        if (!active.empty())
          for (int64_t i = r0; i < r1; ++i)
            if (!active[static_cast<size_t>(i)]) ht[i] = 0.0f;
      }
    }
  });
  for (const NeuronRun& r : down_runs) add_down_run(pool, ws, L, h, B, r, y);
}

void ffn_down(ThreadPool& pool, Workspace& ws, const FfnWeights& f, const float* h, int B, float* y) {
  if (f.n_neurons() > 0) add_down_run(pool, ws, f, h, B, {0, static_cast<int32_t>(f.n_neurons())}, y);
}

void ffn_gate_activations(ThreadPool& pool, Workspace& ws, const ModelWeights& w, int layer, const float* xn, float* out) {
  ffn_gate_activations(pool, ws, w, layer, xn, 1, out);
}

void ffn_gate_activations(ThreadPool& pool, Workspace& ws, const ModelWeights& w, int layer, const float* xn, int B, float* out) {
  const ModelConfig& c = w.config();
  const LayerWeights& L = w.layers()[static_cast<size_t>(layer)];
  const WeightMatrix& m = c.gated_ffn ? L.gate : L.up;
  ws.new_input();
  const QuantizedBatch& a = ws.quantized(pool, m.type, xn, c.d_model, B);
  const RowCut cut = row_cut(pool, a, c.d_ff);
  pool.run_parts(cut.parts, [&](int p, int) {
    auto [r0, r1] = cut.part(p);
    matmul_rows(m, a, out, c.d_ff, r0, r1);
    for (int t = 0; t < B; ++t)
      for (int64_t i = r0; i < r1; ++i) out[t * c.d_ff + i] = activate(c.activation, out[t * c.d_ff + i]);
  });
}

void ffn_neuron_activity(ThreadPool& pool, Workspace& ws, const ModelWeights& w, int layer, const float* xn, int B, float* out) {
  const ModelConfig& c = w.config();
  if (c.activation == Activation::ReLU || !c.gated_ffn) {
    ffn_gate_activations(pool, ws, w, layer, xn, B, out);
    return;
  }
  const LayerWeights& L = w.layers()[static_cast<size_t>(layer)];
  ws.new_input();
  const QuantizedBatch& ag = ws.quantized(pool, L.gate.type, xn, c.d_model, B);
  const QuantizedBatch& au = ws.quantized(pool, L.up.type, xn, c.d_model, B);
  float* u = ws.hb2.data();  // [B][d_ff] scratch
  const RowCut cut = row_cut(pool, ag, c.d_ff);
  pool.run_parts(cut.parts, [&](int p, int) {
    auto [r0, r1] = cut.part(p);
    matmul_rows(L.gate, ag, out, c.d_ff, r0, r1);
    matmul_rows(L.up, au, u, c.d_ff, r0, r1);
    for (int t = 0; t < B; ++t)
      for (int64_t i = r0; i < r1; ++i) out[t * c.d_ff + i] = activate(c.activation, out[t * c.d_ff + i]) * u[t * c.d_ff + i];
  });
}

void output_head(ThreadPool& pool, Workspace& ws, const ModelWeights& w, const float* x, int B, float* logits) {
  const ModelConfig& c = w.config();
  const int64_t d = c.d_model;
  for (int t = 0; t < B; ++t) rms_norm(&x[t * d], w.output_norm().data(), &ws.xb[t * d], d, c.norm_eps);
  ws.new_input();
  const QuantizedBatch& a = ws.quantized(pool, w.output().type, ws.xb.data(), d, B);
  const RowCut cut = row_cut(pool, a, c.n_vocab);
  pool.run_parts(cut.parts, [&](int p, int) {
    auto [r0, r1] = cut.part(p);
    matmul_rows(w.output(), a, logits, c.n_vocab, r0, r1);
    if (c.final_softcap > 0.0f)
      for (int t = 0; t < B; ++t)
        for (int64_t i = r0; i < r1; ++i) {
          float& l = logits[t * static_cast<int64_t>(c.n_vocab) + i];
          l = c.final_softcap * std::tanh(l / c.final_softcap);
        }
  });
}

}  // namespace actinfer
