// Sparse FFN of one token over neuron bundles (engine/neuron_bundles.h): only the
// active neurons' records are read.
//
//   y = sum over i in active of h_i * down_i,   h_i = act(gate_i . xn) * (up_i . xn)
//                                               (ungated: h_i = act(up_i . xn))
//
// xn is quantized once for the gate/up type (kernels/vec_dot.h's activation_type_for);
// the threads of the pool split the active list into equal parts; each computes h_i for
// its neurons (gate and up rows are adjacent in the record: one contiguous read) and adds
// h_i * down^T_i into its own partial sum (AXPY; Q8_0 down^T blocks dequantized on the fly
// with AVX2/FMA). A neuron with h_i == 0 (e.g. ReLU gate <= 0) skips its up dot and its
// AXPY; for ReLU models each thread first takes the gate rows of its whole share, then
// reads up and down only for the neurons that fire (a predictor's false positives then
// cost one row, not a record). The partials are then reduced without locks: each thread sums one slice of y.
//
// Numerics against ffn_block (the dense reference): gate/up dots see the same quantized
// activation (Q4_0/Q8_0 rows use this file's AVX2 kernels, which sum in a different order
// than vec_dot: ~1e-6 relative); the down projection uses h in float (ffn_block rounds h to
// the down type's activation type, Q8_0 for quantized down) and the re-stored down^T
// (exact for F32/F16, Q8_0-re-quantized for quantized down; see neuron_bundles.h).
// Results depend on the thread count only through the float summation order of the partials.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "engine/neuron_bundles.h"
#include "engine/thread_pool.h"

namespace actinfer {

// Buffers reused across calls (sized on first use; not shared between concurrent calls).
struct SparseScratch {
  std::vector<std::byte> act;    // xn quantized for the gate/up type, one row per token
  size_t act_stride = 0;         // bytes between the tokens' rows of act
  std::vector<float> act_scale;  // its per-block float scales (Q8_0 activations), d/32 per token
  std::vector<int32_t> act_bias;  // Q4_0 rows: per block 8 lanes of -8 * (sums of 4 bytes), per token (only an odd last block's lanes are filled and read)
  // Q4_0 rows, two blocks at a time (sparse_ffn.cpp, q4_0_pairs): per pair of blocks 64 activation
  // bytes regrouped like the pair's nibbles, and its 8 starting lanes; d/64 pairs per token.
  std::vector<int8_t> act_pairs;
  std::vector<int32_t> pair_bias;
  std::vector<float> partial;    // n_threads x (B x) stride partial sums of y
  std::vector<uint64_t> token_mask;    // batch: per neuron, the tokens it is active for
  std::vector<int32_t> batch_union;    // batch: neurons active for any token, increasing
  std::vector<std::pair<int32_t, float>> fired;  // one token, ReLU: (neuron, gate) of those that fire
  std::vector<uint64_t> thread_bytes;  // weight bytes each thread read
  std::vector<float> tmp;        // n_threads x stride, for the portable down path
  int64_t stride = 0;            // floats between threads' partials (d rounded up to 16)
};

// y[d] = the FFN output of the neurons listed in `active` (indices into b, each at most
// once, any order) for one token's normalised input xn[d]. y is overwritten.
// Returns the weight bytes read (ReLU: gate rows of all, whole records of those that fire).
uint64_t sparse_ffn(ThreadPool& pool, const NeuronBundles& b, const float* xn, std::span<const int32_t> active, float* y,
                    SparseScratch& scratch);

// B tokens: xn[B][d], active[t] for token t (each neuron at most once per list), y[B][d]
// overwritten. Every neuron active for any token is read once for the whole batch
// (up to 64 tokens at a time) and computed only for the tokens whose list has it.
// Returns the weight bytes read.
uint64_t sparse_ffn_batch(ThreadPool& pool, const NeuronBundles& b, const float* xn, int B,
                          std::span<const std::vector<int32_t>> active, float* y, SparseScratch& scratch);

}  // namespace actinfer
