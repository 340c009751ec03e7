// FFN weights regrouped by neuron ("neuron bundles", see ARCHITECTURE.md "Neurons"):
// neuron i's gate row, up row and down column stored together in one 64-byte-aligned
// record, so gathering an active neuron is one contiguous read.
//
// Record layout (record_bytes() apart, a multiple of 64; the first record 64-byte aligned):
//   [gate row: row_bytes(gate_up_type, d) | up row: same | down^T: row_bytes(down_t_type, d) | pad]
// (no gate part for a plain, ungated FFN). Gate and up rows are the stored bytes, copied
// exactly. The down column (d_model values, element i of every down row) is stored
// transposed. The down matrix's quantization blocks run along the neuron axis, so a column
// cannot be copied: it is dequantized and re-stored in down_t_type_for(down.type):
//   F32           -> F32   (exact)
//   F16, BF16     -> F16   (F16 exact; BF16 exact for values in F16's normal range, which
//                           holds 3 more mantissa bits than BF16)
//   Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K -> Q8_0 (re-quantized: 32 consecutive d_model values
//                           of one neuron share a new fp16 scale amax/127, so each value moves
//                           by at most amax/254 of its block plus the fp16 rounding of the
//                           scale. Measured in tests/test_sparse_ffn.cpp on
//                           synthetic ReLU models: sparse_ffn's output is within 7.6e-3 (Q8_0
//                           weights) / 6.9e-3 (Q4_0) of max|y| from ffn_block's, which itself
//                           rounds the hidden state to Q8_0; against a float-activation
//                           ffn_block both are ~2e-2 off, the sparse path no worse.)
// Block layout of the Q4_0 / Q8_0 rows (gate, up, and the Q8_0 down^T):
//   BlockLayout::ScalesFirst (the default, for the CPU kernels): a row of nb blocks is stored
//     as [nb fp16 scales][nb x the block's quant bytes] (the same bytes, regrouped), so a
//     kernel converts 8 scales with one instruction instead of one at a time from 18- or
//     34-byte blocks: ~40% fewer instructions per Q4_0 block in the gate/up dot products.
//   BlockLayout::Stored: ggml's interleaved blocks, as in the file (the cuda backend's kernels).
// Other types are stored as in the file either way.
// Memory: one allocation, owned (std::vector; transparent huge pages requested on Linux)
// or provided by the caller.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/layer_ops.h"
#include "kernels/ggml_type.h"

namespace actinfer {

enum class BlockLayout { ScalesFirst, Stored };

class NeuronBundles {
 public:
  static constexpr size_t kAlign = 64;
  // Whether rows of `type` are regrouped under `layout` (Q4_0 and Q8_0 under ScalesFirst).
  static bool scales_first(GgmlType type, BlockLayout layout);

  // The storage type of the transposed down columns for a down matrix of type `down`.
  static GgmlType down_t_type_for(GgmlType down);
  // Bytes of one record and of the whole set for these weights (the caller-buffer size).
  static size_t record_bytes_for(const FfnWeights& f);
  static size_t bytes_needed(const FfnWeights& f) { return record_bytes_for(f) * static_cast<size_t>(f.n_neurons()); }
  static size_t bytes_needed(const FfnWeights& f, size_t n_neurons) { return record_bytes_for(f) * n_neurons; }

  // Builds the bundles of every neuron of f (one layer or a shard) into an owned buffer.
  // Throws std::invalid_argument when gate and up have different types, shapes disagree,
  // or d_model is not a multiple of 32 (Q8_0 down^T) / the gate-up block size.
  explicit NeuronBundles(const FfnWeights& f, BlockLayout layout = BlockLayout::ScalesFirst);
  // The same into a caller-provided buffer of at least bytes_needed(f) bytes, 64-byte
  // aligned; the buffer must outlive this object.
  NeuronBundles(const FfnWeights& f, std::span<std::byte> buffer, BlockLayout layout = BlockLayout::ScalesFirst);
  // Only the listed neurons of f (strictly increasing indices; record k = neuron
  // neurons[k]), into a caller buffer of at least bytes_needed(f, neurons.size()).
  NeuronBundles(const FfnWeights& f, std::span<const int32_t> neurons, std::span<std::byte> buffer,
                BlockLayout layout = BlockLayout::ScalesFirst);

  NeuronBundles(NeuronBundles&&) noexcept = default;
  NeuronBundles& operator=(NeuronBundles&&) noexcept = default;
  NeuronBundles(const NeuronBundles&) = delete;
  NeuronBundles& operator=(const NeuronBundles&) = delete;

  int64_t d_model() const { return d_; }
  int64_t n_neurons() const { return n_; }
  bool gated() const { return gated_; }
  Activation activation() const { return activation_; }
  GgmlType gate_up_type() const { return gu_type_; }
  GgmlType down_t_type() const { return down_t_type_; }
  BlockLayout layout() const { return layout_; }
  bool gate_up_scales_first() const { return scales_first(gu_type_, layout_); }
  bool down_t_scales_first() const { return scales_first(down_t_type_, layout_); }
  size_t gate_up_row_bytes() const { return gu_row_bytes_; }  // bytes of one gate (or up) row
  size_t record_bytes() const { return record_bytes_; }      // stride between records
  size_t used_record_bytes() const { return (gated_ ? 2 : 1) * gu_row_bytes_ + down_row_bytes_; }
  size_t bytes() const { return record_bytes_ * static_cast<size_t>(n_); }

  const std::byte* record(int64_t i) const { return base_ + static_cast<size_t>(i) * record_bytes_; }
  const std::byte* gate(int64_t i) const { return record(i); }  // gated() only
  const std::byte* up(int64_t i) const { return record(i) + (gated_ ? gu_row_bytes_ : 0); }
  const std::byte* down_t(int64_t i) const { return up(i) + gu_row_bytes_; }

 private:
  void set_layout(const FfnWeights& f, std::byte* base);  // the record layout, no records yet
  void build(const FfnWeights& f, std::span<const int32_t> neurons, std::byte* base);

  int64_t d_ = 0, n_ = 0;
  bool gated_ = false;
  BlockLayout layout_ = BlockLayout::ScalesFirst;
  Activation activation_ = Activation::SiLU;
  GgmlType gu_type_ = GgmlType::F32, down_t_type_ = GgmlType::F32;
  size_t gu_row_bytes_ = 0, down_row_bytes_ = 0, record_bytes_ = 0;
  std::vector<std::byte> owned_;
  std::byte* base_ = nullptr;
};

}  // namespace actinfer
