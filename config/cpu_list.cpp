#include "config/cpu_list.h"

#include <hwloc.h>

#include <charconv>
#include <memory>
#include <stdexcept>

namespace actinfer {
namespace {

struct BitmapFree {
  void operator()(hwloc_bitmap_s* b) const { hwloc_bitmap_free(b); }
};
using Bitmap = std::unique_ptr<hwloc_bitmap_s, BitmapFree>;

Bitmap new_bitmap() {
  Bitmap b(hwloc_bitmap_alloc());
  if (!b) throw std::bad_alloc();
  return b;
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<int> parse_cpu_list(std::string_view text) {
  // hwloc's reader is lenient ("3-" is an infinite set, "3-1" reads as empty, spaces end
  // the list, a huge number allocates a huge bitmap): check each entry first, then let
  // hwloc read the checked text.
  std::string checked;
  long listed = 0;
  std::string_view rest = trim_blanks(text);
  if (rest.empty()) return {};
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view part = trim_blanks(rest.substr(0, comma));
    if (part.empty()) throw std::invalid_argument("empty entry");
    auto number = [](std::string_view t) {
      t = trim_blanks(t);
      int v = -1;
      const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (t.empty() || ec != std::errc() || p != t.data() + t.size() || v < 0 || v > kMaxCpu)
        throw std::invalid_argument("'" + std::string(t) + "' is not a core number 0.." + std::to_string(kMaxCpu));
      return v;
    };
    const size_t dash = part.find('-');
    const int a = number(part.substr(0, dash));
    const int b = dash == std::string_view::npos ? a : number(part.substr(dash + 1));
    if (b < a) throw std::invalid_argument("range " + std::string(part) + " runs backwards");
    listed += b - a + 1;
    if (!checked.empty()) checked += ',';
    checked += std::to_string(a);
    if (b > a) checked.append("-").append(std::to_string(b));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  Bitmap set = new_bitmap();
  if (hwloc_bitmap_list_sscanf(set.get(), checked.c_str()) != 0)
    throw std::invalid_argument("hwloc cannot read '" + checked + "'");
  if (hwloc_bitmap_weight(set.get()) != listed) {
    // Some core is in two entries: name the first.
    Bitmap seen = new_bitmap();
    for (std::string_view r = checked;;) {
      const size_t comma = r.find(',');
      const std::string_view part = r.substr(0, comma);
      const size_t dash = part.find('-');
      int a = 0, b = 0;
      std::from_chars(part.data(), part.data() + part.size(), a);
      b = a;
      if (dash != std::string_view::npos) std::from_chars(part.data() + dash + 1, part.data() + part.size(), b);
      for (int v = a; v <= b; ++v) {
        if (hwloc_bitmap_isset(seen.get(), static_cast<unsigned>(v)))
          throw std::invalid_argument("core " + std::to_string(v) + " is listed twice");
        hwloc_bitmap_set(seen.get(), static_cast<unsigned>(v));
      }
      if (comma == std::string_view::npos) break;
      r = r.substr(comma + 1);
    }
  }
  std::vector<int> out;
  for (int v = hwloc_bitmap_first(set.get()); v >= 0; v = hwloc_bitmap_next(set.get(), v)) out.push_back(v);
  return out;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  Bitmap set = new_bitmap();
  for (int c : cpus) {
    if (c < 0 || c > kMaxCpu) throw std::invalid_argument("core " + std::to_string(c) + " out of range 0.." + std::to_string(kMaxCpu));
    hwloc_bitmap_set(set.get(), static_cast<unsigned>(c));
  }
  const int n = hwloc_bitmap_list_snprintf(nullptr, 0, set.get());
  if (n < 0) throw std::runtime_error("hwloc_bitmap_list_snprintf failed");
  std::string out(static_cast<size_t>(n) + 1, '\0');
  hwloc_bitmap_list_snprintf(out.data(), out.size(), set.get());
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace actinfer
