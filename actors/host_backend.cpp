// The host backend: the gpu-worker's role on CPU threads, with the same layer
// operations as the dense engine.
#include <stdexcept>

#include "actors/backend.h"
#include "actors/pinning_hook.h"
#include "engine/layer_ops.h"

namespace actinfer {
namespace {

class HostBackend final : public Backend {
 public:
  HostBackend(std::shared_ptr<const ModelWeights> w, const BackendOptions& o)
      : w_(std::move(w)),
        pool_(default_thread_count(o.engine.n_threads), actors::pin_threads_to(o.topology, o.pus, "gpu-worker (host backend)")),
        cache_(w_->config().n_layers, o.n_ctx, w_->config().n_kv_heads * w_->config().head_dim),
        ws_(w_->config(), o.engine.max_batch, pool_.size(), o.n_ctx, o.engine.exact_activations) {}

  std::string name() const override {
    return "host backend, " + std::to_string(pool_.size()) + (pool_.size() == 1 ? " thread" : " threads");
  }

  void attention(int layer, int pos0, int B, float* x, float* xn) override {
    attention_block(pool_, ws_, *w_, cache_, layer, pos0, B, x);
    ffn_norm(*w_, layer, x, xn, B);
  }

  void ffn(int layer, const float* xn, int B, const NeuronSlice& slice, const std::vector<uint8_t>& active, float* y) override {
    ffn_block(pool_, ws_, FfnWeights::of_layer(*w_, layer), xn, B, slice, active, y, false);
  }

  void output(const float* x, int B, float* logits) override { output_head(pool_, ws_, *w_, x, B, logits); }

 private:
  std::shared_ptr<const ModelWeights> w_;
  ThreadPool pool_;
  KvCache cache_;
  Workspace ws_;
};

}  // namespace

std::unique_ptr<Backend> make_backend(std::shared_ptr<const ModelWeights> weights, const BackendOptions& o) {
  if (o.kind == "host") return std::make_unique<HostBackend>(std::move(weights), o);
  if (o.kind == "cuda")
    throw std::invalid_argument("backend 'cuda' is not available in this build yet (the CUDA gpu-worker is a later issue); use backend = \"host\"");
  throw std::invalid_argument("unknown backend '" + o.kind + "' (known: host, cuda)");
}

}  // namespace actinfer
