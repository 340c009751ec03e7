// The computations of one transformer layer, shared by the dense engine and
// the actor runtime's workers: each takes the thread pool to run on and a
// workspace of scratch buffers owned by the caller.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "engine/attention.h"
#include "engine/kv_cache.h"
#include "engine/neuron_slice.h"
#include "engine/thread_pool.h"
#include "kernels/matmul.h"
#include "model/model_weights.h"

namespace actinfer {

// Scratch buffers for up to max_batch tokens, reused across calls.
class Workspace {
 public:
  Workspace(const ModelConfig& c, int max_batch, bool exact_activations);
  int max_batch() const { return max_batch_; }
  bool exact() const { return exact_; }
  // Every token through the per-token kernels (no tiled GEMM): a token's results are then
  // the same bits whatever else shares its step (a server's sequences).
  void set_batch_invariant(bool on) { batch_invariant_ = on; }
  bool batch_invariant() const { return batch_invariant_; }
  BatchKernels batch_kernels() const { return batch_invariant_ ? BatchKernels::kBatchInvariant : BatchKernels::kFastest; }

  // Activations quantized for one weight type; reused while the input stays the same.
  const QuantizedBatch& quantized(ThreadPool& pool, GgmlType type, const float* x, int64_t n, int B);
  void new_input() { n_quantized_ = 0; }  // the next quantized() calls see a new x

  // RoPE (cos, sin) pairs of the B tokens at pos0.. ([B][rope_dims]) for one RoPE base:
  // computed once per forward step and shared by every layer with that base (the
  // pow/cos/sin cost more than the rotation); gemma3's local and global bases each keep theirs.
  const float* rope_rotations(const ModelConfig& c, float base, std::span<const int> positions);

  std::vector<float> xb, q, k, v, att, hb, hb2, tmp;
  std::vector<float> attn_partials;  // grouped_attention's scratch
  std::vector<int> positions;        // each row's position in its sequence
  std::vector<float> ffn_out;  // [B][d]: a layer's FFN output before its post-norm (gemma3)
  QuantizedBatch down_input;  // the FFN hidden state, quantized one neuron run at a time

 private:
  int max_batch_;
  bool exact_;
  bool batch_invariant_ = false;
  QuantizedBatch slots_[4];
  int n_quantized_ = 0;
  struct RopeTable {
    std::vector<float> cs;
    float base = 0.0f;
    std::vector<int> positions;  // the rows' positions the table holds
  };
  RopeTable rope_[2];
  int rope_next_ = 0;  // the table the next new base replaces
};

// x[B][d] = token embeddings (times the model's embedding scale).
void embed_tokens(const ModelWeights& w, std::span<const int32_t> tokens, float* x);

// x += attention(rms_norm(x)) for B tokens at positions pos0.., writing their keys and values to the cache
// (gemma3: per-head q/k norms, NEOX RoPE with the layer's base, a sliding window on local
// layers, the attention output RMS-normed before it joins the residual).
void attention_block(ThreadPool& pool, Workspace& ws, const ModelWeights& w, KvCache& cache, int layer, int pos0, int B, float* x);
// The same for several sequences' rows of x at once, each with its own cache and positions:
// the projections read the weights once for all of them (a server's batched step).
void attention_block(ThreadPool& pool, Workspace& ws, const ModelWeights& w, int layer, std::span<const AttentionSequence> sequences, float* x);

// xn = ffn_norm(x) for B tokens.
void ffn_norm(const ModelWeights& w, int layer, const float* x, float* xn, int B);

// x[B][d] += the layer's FFN output y[B][d], RMS-normed first where the model has a
// post-FFN norm (gemma3). Every runtime adds a layer's summed FFN output through here:
// the norm needs the whole sum, not the parts.
void add_ffn_output(const ModelWeights& w, int layer, const float* y, float* x, int B);

// The FFN matrices of a layer, or of a worker's shard of its neurons (neuron i
// of the shard = row i of gate/up and column i of down).
struct FfnWeights {
  WeightMatrix gate, up, down;  // gate.rows == 0 for a plain (ungated) FFN
  Activation activation = Activation::SiLU;
  int64_t d_model() const { return up.cols; }
  int64_t n_neurons() const { return up.rows; }
  static FfnWeights of_layer(const ModelWeights& w, int layer);
};

// y[B][d] (+)= the FFN output of the neurons in `slice` whose `active` flag is set
// (active empty: all of them), from the normalised input xn[B][d]. With the full
// slice and no mask this is the dense FFN.
void ffn_block(ThreadPool& pool, Workspace& ws, const FfnWeights& f, const float* xn, int B,
               const NeuronSlice& slice, const std::vector<uint8_t>& active, float* y, bool accumulate);

// x[B][d] += the layer's dense FFN of xn (through add_ffn_output, with ws.ffn_out as scratch
// where the model has a post-FFN norm; straight into x otherwise).
void dense_ffn_residual(ThreadPool& pool, Workspace& ws, const ModelWeights& w, int layer, const float* xn, int B, float* x);

// y[B][d] += down . h for B tokens' hidden states h[B][n_neurons] (zeros for
// neurons not computed): the second half of ffn_block, for callers that decide per
// token which neurons to keep from ffn_neuron_activity's output (the sensitivity
// sweep, engine/layer_sensitivity.h).
void ffn_down(ThreadPool& pool, Workspace& ws, const FfnWeights& f, const float* h, int B, float* y);

// The activation of each FFN neuron for one token (before the up projection):
// act(gate . xn), used by the oracle to see which neurons fire.
void ffn_gate_activations(ThreadPool& pool, Workspace& ws, const ModelWeights& w, int layer, const float* xn, float* out);
// The same for B tokens: out[B][d_ff] (ws must hold B tokens).
void ffn_gate_activations(ThreadPool& pool, Workspace& ws, const ModelWeights& w, int layer, const float* xn, int B, float* out);

// How much each neuron contributes, the quantity whose magnitude decides whether it
// "fires" (engine/profiler.h): ReLU models: a = act(gate . xn) (> 0 fires; exact
// zeros otherwise); other activations: the neuron's output h = act(gate . xn) *
// (up . xn), the factor its down column is scaled by. (Thresholding |h| rather than
// |act(gate . xn)| drops the neurons that really contribute least; measured in
// docs/journal.md.) out[B][d_ff].
void ffn_neuron_activity(ThreadPool& pool, Workspace& ws, const ModelWeights& w, int layer, const float* xn, int B, float* out);

// logits[B][n_vocab] = output(rms_norm(x)) (soft-capped where the model says so).
void output_head(ThreadPool& pool, Workspace& ws, const ModelWeights& w, const float* x, int B, float* logits);

}  // namespace actinfer
