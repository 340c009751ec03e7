#include "trace/track_layout.h"

#include <algorithm>
#include <numeric>

namespace actinfer::trace {

std::vector<int> assign_lanes(std::span<const Interval> iv, bool allow_nesting) {
  std::vector<size_t> order(iv.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // By start, the longer first so that a span's children come after it.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (iv[a].start_ns != iv[b].start_ns) return iv[a].start_ns < iv[b].start_ns;
    return iv[a].end_ns > iv[b].end_ns;
  });
  std::vector<int> lane(iv.size(), 0);
  std::vector<std::vector<int64_t>> open;  // per lane: ends of the spans still open, innermost last
  for (size_t i : order) {
    const auto [s, e] = iv[i];
    size_t k = 0;
    for (; k < open.size(); ++k) {
      auto& stack = open[k];
      while (!stack.empty() && stack.back() <= s) stack.pop_back();
      if (stack.empty() || (allow_nesting && stack.back() >= e)) break;
    }
    if (k == open.size()) open.emplace_back();
    open[k].push_back(e);
    lane[i] = static_cast<int>(k);
  }
  return lane;
}

}  // namespace actinfer::trace
