// The host backend: the gpu-worker's role on CPU threads, with the same layer
// operations as the dense engine.
#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "backends/backend.h"
#include "backends/cuda_backend.h"
#include "actors/pinning_hook.h"
#include "engine/attention.h"
#include "engine/layer_ops.h"
#include "engine/neuron_shard.h"

namespace actinfer {
namespace {

class HostBackend final : public Backend {
 public:
  HostBackend(std::shared_ptr<const ModelWeights> w, const BackendOptions& o)
      : w_(std::move(w)),
        pool_(default_thread_count(o.engine.n_threads), actors::pin_threads_to(o.topology, o.pus, "gpu-worker (host backend)", "gpu-pool-")),
        n_ctx_(o.n_ctx),
        cache_type_(o.engine.cache_type),
        ws_(w_->config(), o.engine.max_batch, o.engine.exact_activations),
        predictors_(o.predictors) {
    ws_.set_batch_invariant(o.engine.batch_invariant);
    if (o.pin_caller && !o.pus.empty()) pool_.set_caller_hook(actors::pin_caller_to(o.topology, o.pus[0], "gpu-worker (host backend)"));
    // Every slot's cache now, its pages written: a server pays for them at start and fails
    // there when memory is short, not in the steps of its first requests (made on first use,
    // 8 slots' caches held up the first 8 requests' first tokens by up to 1 s on a VM whose
    // fresh pages are slow to fault in; llama-server allocates its cache at start too).
    const int n_slots = std::max(1, o.n_slots);
    caches_.reserve(static_cast<size_t>(n_slots));
    for (int i = 0; i < n_slots; ++i) caches_.push_back(KvCache::of_model(w_->config(), n_ctx_, cache_type_));
    if (o.sparse) hot_ = std::make_unique<NeuronShard>(*w_, o.hot_neurons);
  }

  std::string name() const override {
    return "host backend, " + std::to_string(pool_.size()) + (pool_.size() == 1 ? " thread" : " threads");
  }

  void attention(int layer, std::span<const StepSequence> sequences, int B, float* x, float* xn) override {
    if (sequences.size() == 1) {
      const StepSequence& s = sequences.front();
      attention_block(pool_, ws_, *w_, cache(s), layer, s.pos0, B, x);
    } else {
      seqs_.clear();
      int row = 0;
      for (const StepSequence& s : sequences) {
        seqs_.push_back({&cache(s), s.pos0, row, s.n_tokens});
        row += s.n_tokens;
      }
      attention_block(pool_, ws_, *w_, layer, seqs_, x);
    }
    ffn_norm(*w_, layer, x, xn, B);
  }

  void ffn(int layer, const float* xn, int B, const NeuronSlice& slice, const std::vector<uint8_t>& active, float* y) override {
    ffn_block(pool_, ws_, FfnWeights::of_layer(*w_, layer), xn, B, slice, active, y, false);
  }

  uint64_t ffn_sparse(int layer, const float* xn, int B, const std::vector<std::vector<int32_t>>& per_token, float* y) override {
    if (!hot_) throw std::logic_error("host backend: ffn_sparse without sparse kernels");
    return hot_->compute(pool_, layer, xn, B, per_token, y, sparse_);
  }

  void output(const float* x, int B, float* logits) override { output_head(pool_, ws_, *w_, x, B, logits); }

  void predict(int layer, const float* xn, int B, std::vector<std::vector<int32_t>>& per_token) override {
    if (!predictors_) throw std::logic_error("host backend: predict without predictors");
    per_token.resize(static_cast<size_t>(B));
    const int d = w_->config().d_model;
    for (int t = 0; t < B; ++t) predictors_->predict(pool_, layer, xn + static_cast<size_t>(t) * d, per_token[static_cast<size_t>(t)], predict_);
  }

 private:
  KvCache& cache(const StepSequence& s) {
    if (s.slot < 0 || s.slot >= static_cast<int>(caches_.size()))
      throw std::out_of_range("host backend: slot " + std::to_string(s.slot) + " outside 0.." + std::to_string(caches_.size() - 1));
    if (s.pos0 < 0 || s.n_tokens < 1 || s.pos0 + s.n_tokens > n_ctx_)
      throw std::out_of_range("host backend: positions " + std::to_string(s.pos0) + ".." + std::to_string(s.pos0 + s.n_tokens - 1) +
                              " outside the KV cache of " + std::to_string(n_ctx_));
    return caches_[static_cast<size_t>(s.slot)];
  }

  std::shared_ptr<const ModelWeights> w_;
  ThreadPool pool_;
  int n_ctx_;
  KvCacheType cache_type_;
  std::vector<KvCache> caches_;  // per slot
  std::vector<AttentionSequence> seqs_;
  Workspace ws_;
  std::unique_ptr<NeuronShard> hot_;  // sparse kernels: the hot neurons as bundles
  SparseScratch sparse_;
  std::shared_ptr<const NeuronPredictors> predictors_;
  PredictorScratch predict_;
};

}  // namespace

std::string DeviceFootprint::describe() const {
  auto mib = [](uint64_t b) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(b) / (1 << 20));
    return std::string(text);
  };
  return mib(total()) + " (attention " + mib(attention) + ", hot FFN " + mib(hot_ffn) + ", lm_head " + mib(lm_head) +
         ", KV cache " + mib(kv_cache) + (predictors ? ", predictors " + mib(predictors) : std::string()) + ")";
}

DeviceFootprint device_footprint(const ModelWeights& w, const std::vector<int64_t>& hot_neurons, int n_ctx, bool sparse,
                                 KvCacheType cache_type) {
  const ModelConfig& c = w.config();
  DeviceFootprint f;
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers()[static_cast<size_t>(l)];
    f.attention += L.wq.bytes() + L.wk.bytes() + L.wv.bytes() + L.wo.bytes() + (L.attn_norm.size() + L.ffn_norm.size() + L.attn_q_norm.size() + L.attn_k_norm.size() +
                                                                          L.post_attn_norm.size()) * 4;
    // Per neuron: a gate row, an up row, and its share of the down matrix.
    const uint64_t per_neuron = sparse ? NeuronBundles::record_bytes_for(FfnWeights::of_layer(w, l))
                                       : (L.gate.rows ? L.gate.row_stride : 0) + L.up.row_stride + L.down.bytes() / static_cast<uint64_t>(c.d_ff);
    f.hot_ffn += per_neuron * static_cast<uint64_t>(hot_neurons[static_cast<size_t>(l)]);
  }
  f.lm_head = w.output().bytes() + w.output_norm().size() * 4;
  f.kv_cache = uint64_t{2} * c.n_layers * static_cast<uint64_t>(n_ctx) * c.n_kv_heads * c.head_dim * kv_cache_element_bytes(cache_type);
  return f;
}

void check_budget(const DeviceFootprint& f, uint64_t budget, const std::string& backend) {
  if (budget == 0 || f.total() <= budget) return;
  char limit[32];
  std::snprintf(limit, sizeof limit, "%.1f MiB", static_cast<double>(budget) / (1 << 20));
  throw std::invalid_argument("the gpu-worker (" + backend + " backend) needs " + f.describe() + " but the VRAM budget is " +
                              limit + ": lower hot-fraction or ctx, or raise vram-budget");
}

std::unique_ptr<Backend> make_backend(std::shared_ptr<const ModelWeights> weights, const BackendOptions& o) {
  switch (o.kind) {
    case BackendKind::host: return std::make_unique<HostBackend>(std::move(weights), o);
    case BackendKind::cuda: return make_cuda_backend(std::move(weights), o);
  }
  throw std::invalid_argument("unknown backend kind");
}

}  // namespace actinfer
