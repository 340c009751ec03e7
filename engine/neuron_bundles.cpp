#include "engine/neuron_bundles.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>


#include "kernels/dequantize.h"
#include "kernels/quantize.h"
#include "topology/node_memory.h"

namespace actinfer {
namespace {

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

void check(const FfnWeights& f) {
  const bool gated = f.gate.rows > 0;
  if (f.up.rows <= 0 || f.up.cols <= 0) throw std::invalid_argument("NeuronBundles: empty FFN");
  if (gated && (f.gate.rows != f.up.rows || f.gate.cols != f.up.cols || f.gate.type != f.up.type))
    throw std::invalid_argument("NeuronBundles: gate and up must have the same shape and type");
  if (f.down.rows != f.up.cols || f.down.cols != f.up.rows)
    throw std::invalid_argument("NeuronBundles: down must be d_model x n_neurons");
  const int64_t d = f.up.cols;
  if (d % traits(f.up.type).block_elems != 0 || d % 32 != 0)
    throw std::invalid_argument("NeuronBundles: d_model " + std::to_string(d) + " is not a multiple of the block size");
}

// Bytes of one block's quants (without its fp16 scale) for the regrouped types.
size_t quant_bytes(GgmlType t) { return t == GgmlType::Q4_0 ? 16 : 32; }

// Copies a stored row of nb blocks (fp16 scale first in each) into dst regrouped as
// [nb scales][nb quant groups].
void regroup_row(GgmlType t, const std::byte* src, std::byte* dst, int64_t nb) {
  const size_t q = quant_bytes(t), block = q + 2;
  for (int64_t k = 0; k < nb; ++k) {
    std::memcpy(dst + 2 * k, src + static_cast<size_t>(k) * block, 2);
    std::memcpy(dst + 2 * static_cast<size_t>(nb) + static_cast<size_t>(k) * q, src + static_cast<size_t>(k) * block + 2, q);
  }
}

}  // namespace

bool NeuronBundles::scales_first(GgmlType type, BlockLayout layout) {
  return layout == BlockLayout::ScalesFirst && (type == GgmlType::Q4_0 || type == GgmlType::Q8_0);
}

GgmlType NeuronBundles::down_t_type_for(GgmlType down) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(down));
  if (t == nullptr || !t->weight) throw std::invalid_argument("NeuronBundles: unsupported down type " + type_name(down));
  return t->down_t_type;
}

size_t NeuronBundles::record_bytes_for(const FfnWeights& f) {
  check(f);
  const int64_t d = f.up.cols;
  const size_t gu = static_cast<size_t>(row_bytes(f.up.type, d));
  const size_t dn = static_cast<size_t>(row_bytes(down_t_type_for(f.down.type), d));
  return round_up((f.gate.rows > 0 ? 2 : 1) * gu + dn, kAlign);
}

NeuronBundles::NeuronBundles(const FfnWeights& f, BlockLayout layout) : layout_(layout) {
  const size_t n = bytes_needed(f) + kAlign;
  owned_.reserve(n);  // large: fresh untouched pages
  topology::advise_huge_pages(owned_.data(), n);  // before the buffer is first touched
  owned_.resize(n);
  const auto addr = reinterpret_cast<uintptr_t>(owned_.data());
  build(f, {}, owned_.data() + (round_up(addr, kAlign) - addr));
}

NeuronBundles::NeuronBundles(const FfnWeights& f, std::span<std::byte> buffer, BlockLayout layout) : layout_(layout) {
  if (buffer.size() < bytes_needed(f)) throw std::invalid_argument("NeuronBundles: buffer too small");
  if (reinterpret_cast<uintptr_t>(buffer.data()) % kAlign != 0)
    throw std::invalid_argument("NeuronBundles: buffer not 64-byte aligned");
  build(f, {}, buffer.data());
}

NeuronBundles::NeuronBundles(const FfnWeights& f, std::span<const int32_t> neurons, std::span<std::byte> buffer, BlockLayout layout)
    : layout_(layout) {
  if (buffer.size() < bytes_needed(f, neurons.size())) throw std::invalid_argument("NeuronBundles: buffer too small");
  if (reinterpret_cast<uintptr_t>(buffer.data()) % kAlign != 0)
    throw std::invalid_argument("NeuronBundles: buffer not 64-byte aligned");
  for (size_t k = 0; k < neurons.size(); ++k)
    if (neurons[k] < 0 || neurons[k] >= f.n_neurons() || (k > 0 && neurons[k] <= neurons[k - 1]))
      throw std::invalid_argument("NeuronBundles: neuron list must be increasing indices of the FFN");
  if (neurons.empty()) {  // an empty subset, not "all": no records
    set_layout(f, buffer.data());
    return;
  }
  build(f, neurons, buffer.data());
}

void NeuronBundles::set_layout(const FfnWeights& f, std::byte* base) {
  check(f);
  base_ = base;
  d_ = f.d_model();
  n_ = 0;
  gated_ = f.gate.rows > 0;
  activation_ = f.activation;
  gu_type_ = f.up.type;
  down_t_type_ = down_t_type_for(f.down.type);
  gu_row_bytes_ = static_cast<size_t>(row_bytes(gu_type_, d_));
  down_row_bytes_ = static_cast<size_t>(row_bytes(down_t_type_, d_));
  record_bytes_ = record_bytes_for(f);
}

void NeuronBundles::build(const FfnWeights& f, std::span<const int32_t> neurons, std::byte* base) {
  set_layout(f, base);
  const int64_t n_all = f.n_neurons();
  n_ = neurons.empty() ? n_all : static_cast<int64_t>(neurons.size());
  auto neuron = [&](int64_t i) -> int64_t { return neurons.empty() ? i : neurons[static_cast<size_t>(i)]; };
  std::memset(base_, 0, bytes());

  const bool gu_regroup = gate_up_scales_first();
  const int64_t nb = d_ / 32;
  auto copy_row = [&](const std::byte* src, std::byte* dst) {
    if (gu_regroup) regroup_row(gu_type_, src, dst, nb);
    else std::memcpy(dst, src, gu_row_bytes_);
  };
  for (int64_t i = 0; i < n_; ++i) {
    std::byte* r = base_ + static_cast<size_t>(i) * record_bytes_;
    if (gated_) copy_row(f.gate.row(neuron(i)), r);
    copy_row(f.up.row(neuron(i)), r + (gated_ ? gu_row_bytes_ : 0));
  }

  // down^T, 32 down rows (one Q8_0 block of every neuron's column) at a time.
  constexpr int64_t kChunk = 32;
  const size_t down_off = (gated_ ? 2 : 1) * gu_row_bytes_;
  const size_t out_block_bytes = static_cast<size_t>(row_bytes(down_t_type_, kChunk));
  std::vector<float> rows(static_cast<size_t>(kChunk * n_all));
  float col[kChunk];
  const bool dt_regroup = down_t_scales_first();
  std::vector<std::byte> block(out_block_bytes);
  for (int64_t r0 = 0; r0 < d_; r0 += kChunk) {
    for (int64_t k = 0; k < kChunk; ++k) dequantize_row(f.down.type, f.down.row(r0 + k), &rows[static_cast<size_t>(k * n_all)], n_all);
    const auto b = static_cast<size_t>(r0 / kChunk);
    for (int64_t i = 0; i < n_; ++i) {
      for (int64_t k = 0; k < kChunk; ++k) col[k] = rows[static_cast<size_t>(k * n_all + neuron(i))];
      std::byte* row = base_ + static_cast<size_t>(i) * record_bytes_ + down_off;
      if (!dt_regroup) {
        quantize_row(down_t_type_, col, row + b * out_block_bytes, kChunk);
        continue;
      }
      quantize_row(down_t_type_, col, block.data(), kChunk);  // one Q8_0 block: scale, then 32 quants
      std::memcpy(row + 2 * b, block.data(), 2);
      std::memcpy(row + 2 * static_cast<size_t>(nb) + 32 * b, block.data() + 2, 32);
    }
  }
}

}  // namespace actinfer
