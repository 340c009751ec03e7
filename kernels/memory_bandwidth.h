// Measures how fast this machine streams memory into the cores: the roofline
// that decode speed is judged against (decode reads every weight once per token).
#pragma once
#include <cstddef>

namespace actinfer {

struct BandwidthResult {
  double bytes_per_second = 0;  // best of the repeats
  size_t bytes = 0;             // size of the array read
  int threads = 0;
};

// Sums a `bytes`-sized array with `threads` threads (each its own slice), best of `repeats`.
BandwidthResult measure_read_bandwidth(size_t bytes, int threads, int repeats = 5);

}  // namespace actinfer
