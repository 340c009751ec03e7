// Core lists in Linux cpulist form ("0-3,8,10-11"), read and written with hwloc's bitmap
// list functions (hwloc_bitmap_list_sscanf / hwloc_bitmap_list_snprintf).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace actinfer {

// Core numbers are PU os indexes, at most this.
inline constexpr int kMaxCpu = 65535;

// The cores of "0-3,8, 10-11" ascending. Throws std::invalid_argument saying what is wrong
// (empty entry, a range that runs backwards, a number out of 0..kMaxCpu, a core listed twice).
std::vector<int> parse_cpu_list(std::string_view text);

// "0-3,8,10-11"; duplicates collapse. Throws std::invalid_argument for a core outside 0..kMaxCpu.
std::string format_cpu_list(const std::vector<int>& cpus);

}  // namespace actinfer
