// Small pieces shared by the topology files: an owning hwloc bitmap, index lists
// written the way hwloc and Linux write them ("0-3,8"), and hwloc's own explanation
// of a rejected synthetic string or XML file.
#pragma once
#include <hwloc.h>

#include <functional>
#include <memory>
#include <span>
#include <string>

namespace actinfer::topology::detail {

struct BitmapFree {
  void operator()(hwloc_bitmap_s* b) const { hwloc_bitmap_free(b); }
};
using Bitmap = std::unique_ptr<hwloc_bitmap_s, BitmapFree>;

// Throws std::bad_alloc when hwloc cannot allocate.
Bitmap make_bitmap();
// Negative indexes are skipped (the callers report them as absent separately).
Bitmap bitmap_of(std::span<const int> indexes);

// "0-3,8"; "none" for an empty set. A list holding negative numbers is written out plainly.
std::string list_string(hwloc_const_bitmap_t set);
std::string list_string(std::span<const int> indexes);

// hwloc explains why it rejects a synthetic string only on stderr, and only when
// HWLOC_SYNTHETIC_VERBOSE is set. Setting that variable or redirecting stderr here would
// race with other threads, so the failed attempt is repeated in a short-lived child
// process whose stderr is a pipe. Called only on the error path. Returns the text on one
// line ("" if none came). Useless for XML: hwloc reads HWLOC_XML_VERBOSE once per process
// and caches it, and the child inherits that cache.
std::string hwloc_complaint(const char* verbose_env, const std::function<int(hwloc_topology_t)>& attempt);

}  // namespace actinfer::topology::detail
