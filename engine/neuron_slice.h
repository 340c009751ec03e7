// Which FFN neurons of a layer a worker computes: sorted, disjoint runs of
// neuron indices, and optionally which of them are active for this token.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace actinfer {

struct NeuronRun {
  int32_t begin = 0;
  int32_t end = 0;  // exclusive
  bool operator==(const NeuronRun&) const = default;
};

struct NeuronSlice {
  std::vector<NeuronRun> runs;  // sorted, disjoint, non-empty
  int64_t count() const {
    int64_t n = 0;
    for (const auto& r : runs) n += r.end - r.begin;
    return n;
  }
  bool empty() const { return runs.empty(); }
  static NeuronSlice all(int32_t n) { return n > 0 ? NeuronSlice{{{0, n}}} : NeuronSlice{}; }
  // Runs of the neurons whose flag is set (flags has one entry per neuron).
  static NeuronSlice from_flags(const std::vector<uint8_t>& flags);
};

}  // namespace actinfer
