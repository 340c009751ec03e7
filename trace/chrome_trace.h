// Writes actor trace buffers as Chrome trace-event JSON, for Perfetto
// (ui.perfetto.dev) or chrome://tracing, and reads them back for `actinfer trace`.
//
// Layout: {"displayTimeUnit":"ns", "traceEvents":[...], "otherData":{...}}.
// Process 1 is "actinfer"; each actor gets one thread (tid 1, 2, ... in buffer
// order), named by a "thread_name" metadata event ("ph":"M"), holding its Compute
// and Wait spans as complete events ("ph":"X", "cat" = kind_name(), "ts"/"dur" in
// microseconds with three decimals, ts relative to the earliest span, "args" =
// layer, token, bytes, role). A thread track can only show disjoint or nested
// events, and message flights overlap one another, so an actor's Message spans go
// on extra "<actor> inbox", "<actor> inbox 2", ... threads (as many as it has
// messages in flight at once); Compute spans that overlap without nesting likewise
// spill onto "<actor> overlap 2", ... threads. "thread_sort_index" events keep an
// actor's threads together. otherData holds generator "actinfer", format_version,
// origin_ns (the steady-clock time of ts 0) and the actors with their role and tids.
#pragma once
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "trace/trace_buffer.h"

namespace actinfer::trace {

inline constexpr std::string_view kTraceGenerator = "actinfer";
inline constexpr int kTraceFormatVersion = 1;

// Throws std::runtime_error when the file cannot be written.
void write_chrome_trace(const std::filesystem::path& path, std::span<const TraceBuffer> buffers);

// Reads a file written by write_chrome_trace() back into one buffer per actor
// (enabled, spans with their original nanosecond times). Throws std::runtime_error
// naming the file for a missing or unreadable file, invalid JSON, or a JSON that
// is not an actinfer trace.
std::vector<TraceBuffer> read_chrome_trace(const std::filesystem::path& path);

}  // namespace actinfer::trace
