// Writes actor trace buffers as Chrome trace-event JSON, for Perfetto
// (ui.perfetto.dev) or chrome://tracing, and for `actinfer trace` to summarize.
//
// Layout: {"traceEvents":[...], "displayTimeUnit":"ns", "otherData":{...}}.
// Process 1 is "actinfer"; each actor gets one thread (tid), named with a
// "thread_name" metadata event, holding its Compute and Wait spans as complete
// events ("ph":"X", "cat" = kind_name(), "ts"/"dur" in microseconds with a
// fractional part, relative to the earliest span, "args" = layer, token, bytes,
// role). Message flights overlap one another, which a thread track cannot show, so
// they go on the actor's extra "<actor> inbox" threads (as many as messages in
// flight at once); overlapping Compute spans that do not nest likewise spill onto
// "<actor> overlap N" threads. otherData names the generator and maps every tid
// back to its actor, which read_chrome_trace() relies on.
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
