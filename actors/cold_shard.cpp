#include "actors/cold_shard.h"

#include <cstring>

namespace actinfer {
namespace {

// Bytes a copy of rows [r0, r1) of m needs.
size_t rows_bytes(const WeightMatrix& m, int64_t r0, int64_t r1) { return m.row_stride * static_cast<size_t>(r1 - r0); }

size_t columns_bytes(const WeightMatrix& m, int64_t c0, int64_t c1) {
  return static_cast<size_t>(row_bytes(m.type, c1 - c0)) * static_cast<size_t>(m.rows);
}

WeightMatrix copy_rows(const WeightMatrix& m, int64_t r0, int64_t r1, std::byte*& out) {
  if (m.rows == 0) return {};
  const size_t n = rows_bytes(m, r0, r1);
  std::memcpy(out, m.row(r0), n);
  WeightMatrix c{m.type, r1 - r0, m.cols, out, m.row_stride};
  out += n;
  return c;
}

WeightMatrix copy_columns(const WeightMatrix& m, int64_t c0, int64_t c1, std::byte*& out) {
  const auto stride = static_cast<size_t>(row_bytes(m.type, c1 - c0));
  const auto skip = static_cast<size_t>(row_bytes(m.type, c0));
  for (int64_t r = 0; r < m.rows; ++r) std::memcpy(out + static_cast<size_t>(r) * stride, m.row(r) + skip, stride);
  WeightMatrix c{m.type, m.rows, c1 - c0, out, stride};
  out += stride * static_cast<size_t>(m.rows);
  return c;
}

WeightMatrix row_view(const WeightMatrix& m, int64_t r0, int64_t r1) {
  if (m.rows == 0) return {};
  return WeightMatrix{m.type, r1 - r0, m.cols, m.row(r0), m.row_stride};
}

// Columns [c0, c1) in place: the same rows, starting c0's block later (c0 is block-aligned).
WeightMatrix column_view(const WeightMatrix& m, int64_t c0, int64_t c1) {
  return WeightMatrix{m.type, m.rows, c1 - c0, m.data + row_bytes(m.type, c0), m.row_stride};
}

}  // namespace

ColdShard::ColdShard(const ModelWeights& w, NeuronRun run, const topology::Topology& topo, int numa_node) : run_(run) {
  const int n_layers = w.config().n_layers;
  size_t total = 0;
  for (int l = 0; l < n_layers; ++l) {
    const LayerWeights& L = w.layers()[static_cast<size_t>(l)];
    total += rows_bytes(L.up, run.begin, run.end) + columns_bytes(L.down, run.begin, run.end);
    if (L.gate.rows > 0) total += rows_bytes(L.gate, run.begin, run.end);
  }
  if (n_neurons() == 0) {
    layers_.resize(static_cast<size_t>(n_layers));
    return;
  }
  memory_ = topology::NodeLocalBuffer::allocate(topo, numa_node, total);
  std::byte* out = memory_.data();
  for (int l = 0; l < n_layers; ++l) {
    const LayerWeights& L = w.layers()[static_cast<size_t>(l)];
    FfnWeights f;
    f.activation = w.config().activation;
    f.gate = copy_rows(L.gate, run.begin, run.end, out);
    f.up = copy_rows(L.up, run.begin, run.end, out);
    f.down = copy_columns(L.down, run.begin, run.end, out);
    layers_.push_back(f);
  }
}

ColdShard::ColdShard(const ModelWeights& w, NeuronRun run, std::vector<std::vector<int32_t>> neurons, const topology::Topology& topo,
                     int numa_node)
    : run_(run) {
  const size_t total = NeuronShard::bytes_needed(w, neurons);
  if (total > 0) memory_ = topology::NodeLocalBuffer::allocate(topo, numa_node, total);
  sparse_ = std::make_unique<NeuronShard>(w, std::move(neurons), total > 0 ? std::span<std::byte>(memory_.data(), total) : std::span<std::byte>());
  for (const LayerWeights& L : w.layers()) {
    FfnWeights f;
    f.activation = w.config().activation;
    f.gate = row_view(L.gate, run.begin, run.end);
    f.up = row_view(L.up, run.begin, run.end);
    f.down = column_view(L.down, run.begin, run.end);
    layers_.push_back(f);
  }
}

}  // namespace actinfer
