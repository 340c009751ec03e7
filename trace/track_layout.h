// Spreads an actor's spans over as few timeline rows ("lanes") as needed so that
// each row renders correctly in Perfetto / chrome://tracing, which require the
// complete events of one thread to be disjoint or properly nested.
#pragma once
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace actinfer::trace {

struct Interval {
  int64_t start_ns, end_ns;
};

// Lane (0, 1, ...) of each interval, same order as the input. allow_nesting: an
// interval may sit inside another of its lane (nested scopes); otherwise intervals
// of a lane are disjoint (message flights, which overlap without meaning nesting).
// Touching intervals (one ends where the next starts) share a lane.
std::vector<int> assign_lanes(std::span<const Interval> intervals, bool allow_nesting);

}  // namespace actinfer::trace
