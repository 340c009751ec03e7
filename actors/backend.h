// Where the gpu-worker computes. `host` runs its role on dedicated CPU threads
// (the default where no GPU exists, so the whole pipeline is testable
// anywhere); `cuda` fills the same seam on a GPU.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/dense_engine.h"
#include "engine/neuron_slice.h"
#include "model/model_weights.h"
#include "topology/topology.h"

namespace actinfer {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // x[B][d] += attention(layer) for tokens at positions pos0..; xn = ffn_norm(x).
  virtual void attention(int layer, int pos0, int B, float* x, float* xn) = 0;
  // y[B][d] = FFN output of the slice's neurons whose `active` flag is set (empty: all).
  virtual void ffn(int layer, const float* xn, int B, const NeuronSlice& slice, const std::vector<uint8_t>& active, float* y) = 0;
  // logits[B][n_vocab] from the residual stream x[B][d].
  virtual void output(const float* x, int B, float* logits) = 0;
};

struct BackendOptions {
  std::string kind = "host";  // host | cuda
  EngineOptions engine;       // threads (host), batch, exactness
  int n_ctx = 0;
  std::vector<int> pus;       // host: pin the threads here
  std::shared_ptr<const topology::Topology> topology;
};

// Throws std::invalid_argument for a kind this build cannot provide.
std::unique_ptr<Backend> make_backend(std::shared_ptr<const ModelWeights> weights, const BackendOptions& options);

}  // namespace actinfer
