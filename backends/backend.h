// Where the gpu-worker computes. `host` runs its role on dedicated CPU threads
// (the default where no GPU exists, so the whole pipeline is testable
// anywhere); `cuda` fills the same seam on a GPU.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/modes.h"
#include "engine/dense_engine.h"
#include "engine/neuron_predictor.h"
#include "engine/neuron_slice.h"
#include "engine/step_sequence.h"
#include "model/model_weights.h"
#include "topology/topology.h"

namespace actinfer {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // x[B][d] += attention(layer) for the step's B rows, each sequence's rows against its
  // own slot's KV cache (sequences in row order, n_tokens summing to B); xn = ffn_norm(x).
  // Throws std::out_of_range for a slot or positions outside the cache.
  virtual void attention(int layer, std::span<const StepSequence> sequences, int B, float* x, float* xn) = 0;
  // y[B][d] = FFN output of the slice's neurons whose `active` flag is set (empty: all).
  virtual void ffn(int layer, const float* xn, int B, const NeuronSlice& slice, const std::vector<uint8_t>& active, float* y) = 0;
  // Sparse kernels (options.sparse): y[B][d] = FFN output of the hot neurons in each
  // token's list per_token[t] (increasing global indices; others' neurons skipped).
  // Returns the weight bytes read.
  virtual uint64_t ffn_sparse(int layer, const float* xn, int B, const std::vector<std::vector<int32_t>>& per_token, float* y) = 0;
  // logits[B][n_vocab] from the residual stream x[B][d].
  virtual void output(const float* x, int B, float* logits) = 0;
  // The trained predictors (options.predictors; only called when they are set), run where
  // the hot neurons and the FFN input already are: per_token[t] (resized to B) = the
  // increasing indices of the neurons of `layer` predicted active for xn[t].
  virtual void predict(int layer, const float* xn, int B, std::vector<std::vector<int32_t>>& per_token) = 0;
};

struct BackendOptions {
  BackendKind kind = BackendKind::host;
  EngineOptions engine;       // threads (host), batch, exactness (host; cuda always uses float activations)
  int n_ctx = 0;    // positions per slot
  int n_slots = 1;  // sequences with a KV cache of their own (a server's slots)
  std::vector<int> pus;       // host: pin the threads here (config/host_pinning.h)
  bool pin_caller = false;    // host: also the thread that calls the steps, to pus[0]
  std::shared_ptr<const topology::Topology> topology;
  bool sparse = false;                           // hold the hot neurons as bundles for ffn_sparse
  // Per layer, increasing: the hot neurons the backend computes (host: read with sparse only,
  // dense calls name their slice; cuda: the neurons it copies to the device, always needed).
  std::vector<std::vector<int32_t>> hot_neurons;
  std::shared_ptr<const NeuronPredictors> predictors;  // run by predict(); null: the predictor actor predicts
  int device = 0;            // cuda: the CUDA device number
  uint64_t vram_budget = 0;  // cuda: bytes it may hold (weights as stored on the device + KV cache); 0 = no limit
};

// What the gpu-worker holds in (emulated) device memory, in bytes.
struct DeviceFootprint {
  uint64_t attention = 0;  // q, k, v, o of every layer, and the norms
  uint64_t hot_ffn = 0;    // gate and up rows and down columns of the hot neurons
  uint64_t lm_head = 0;    // the output head
  uint64_t kv_cache = 0;
  uint64_t predictors = 0;  // trained predictors (the cuda backend runs them on the GPU)
  uint64_t total() const { return attention + hot_ffn + lm_head + kv_cache + predictors; }
  std::string describe() const;
};
// hot_neurons[l]: hot neurons of layer l; sparse: held as neuron bundles (engine/neuron_bundles.h).
DeviceFootprint device_footprint(const ModelWeights& w, const std::vector<int64_t>& hot_neurons, int n_ctx, bool sparse = false,
                                 KvCacheType cache_type = KvCacheType::F16);
// Throws std::invalid_argument with the numbers when the footprint exceeds a non-zero budget.
void check_budget(const DeviceFootprint& f, uint64_t budget, const std::string& backend);

// Throws std::invalid_argument for a kind this build cannot provide.
std::unique_ptr<Backend> make_backend(std::shared_ptr<const ModelWeights> weights, const BackendOptions& options);

}  // namespace actinfer
