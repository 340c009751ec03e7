#include "engine/neuron_slice.h"

#include <cstddef>

namespace actinfer {

NeuronSlice NeuronSlice::from_flags(const std::vector<uint8_t>& flags) {
  NeuronSlice s;
  const auto n = static_cast<int32_t>(flags.size());
  for (int32_t i = 0; i < n;) {
    if (!flags[static_cast<size_t>(i)]) {
      ++i;
      continue;
    }
    int32_t j = i;
    while (j < n && flags[static_cast<size_t>(j)]) ++j;
    s.runs.push_back({i, j});
    i = j;
  }
  return s;
}

}  // namespace actinfer
