// Timing helpers the bench subcommands share: wall seconds since a start, and the median of
// repeated measurements (what every bench reports, so one noisy repeat moves nothing).
#pragma once
#include <algorithm>
#include <chrono>
#include <vector>

namespace actinfer::tools {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The middle value; the mean of the two middle ones for an even count. Empty: 0.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace actinfer::tools
