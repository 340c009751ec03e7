#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <ostream>
#include <numeric>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "model/atomic_output.h"
#include "trace/chrome_trace.h"
#include "trace/track_layout.h"

namespace actinfer::trace {
namespace {

using json = nlohmann::ordered_json;  // keys in the order written: name, cat, ph, ...

constexpr int kPid = 1;

// tid 0: a process-wide event.
json metadata(const char* what, int tid, const json& args) {
  json e = {{"name", what}, {"ph", "M"}, {"pid", kPid}};
  if (tid > 0) e["tid"] = tid;
  e["args"] = args;
  return e;
}

std::string quote(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }

// One actor's threads: lane 0 of the Compute/Wait spans is the actor's own tid.
struct ActorTracks {
  std::vector<int> lane;          // per span: lane among its group
  std::vector<int> compute_tids;  // per Compute/Wait lane
  std::vector<int> inbox_tids;    // per Message lane
};

// Main tids are 1..n in actor order; extra lanes are numbered after them.
std::vector<ActorTracks> layout(std::span<const TraceBuffer> buffers) {
  std::vector<ActorTracks> tracks(buffers.size());
  int next_tid = static_cast<int>(buffers.size()) + 1;
  for (size_t a = 0; a < buffers.size(); ++a) {
    const auto& spans = buffers[a].spans();
    std::vector<Interval> work, msgs;
    for (const Span& s : spans) (s.kind == SpanKind::Message ? msgs : work).push_back({s.start_ns, s.end_ns});
    const std::vector<int> work_lane = assign_lanes(work, /*allow_nesting=*/true);
    const std::vector<int> msg_lane = assign_lanes(msgs, /*allow_nesting=*/false);
    ActorTracks& t = tracks[a];
    t.compute_tids = {static_cast<int>(a) + 1};
    for (int l : work_lane)
      while (static_cast<int>(t.compute_tids.size()) <= l) t.compute_tids.push_back(next_tid++);
    for (int l : msg_lane)
      while (static_cast<int>(t.inbox_tids.size()) <= l) t.inbox_tids.push_back(next_tid++);
    size_t w = 0, m = 0;
    for (const Span& s : spans) t.lane.push_back(s.kind == SpanKind::Message ? msg_lane[m++] : work_lane[w++]);
  }
  return tracks;
}

// Events are streamed one by one: a long run holds millions of spans.
class EventStream {
 public:
  explicit EventStream(std::ostream& out) : out_(out) {}
  void emit(const json& e) {
    out_ << (first_ ? "\n" : ",\n") << e.dump(-1, ' ', false, json::error_handler_t::replace);
    first_ = false;
  }

 private:
  std::ostream& out_;
  bool first_ = true;
};

// Names (and orders) an actor's threads; returns its otherData.actors entry.
json write_threads(EventStream& events, const TraceBuffer& b, const ActorTracks& t, int sort_base) {
  auto name_thread = [&](int tid, const std::string& name, int sort) {
    events.emit(metadata("thread_name", tid, {{"name", name}}));
    events.emit(metadata("thread_sort_index", tid, {{"sort_index", sort}}));
  };
  json tids = json::array();
  for (size_t l = 0; l < t.compute_tids.size(); ++l) {
    name_thread(t.compute_tids[l], l == 0 ? b.actor() : b.actor() + " overlap " + std::to_string(l + 1),
                sort_base + static_cast<int>(l));
    tids.push_back(t.compute_tids[l]);
  }
  for (size_t l = 0; l < t.inbox_tids.size(); ++l) {
    name_thread(t.inbox_tids[l], l == 0 ? b.actor() + " inbox" : b.actor() + " inbox " + std::to_string(l + 1),
                sort_base + 500 + static_cast<int>(l));
    tids.push_back(t.inbox_tids[l]);
  }
  return {{"actor", b.actor()}, {"role", b.role()}, {"tids", tids}, {"n_spans", b.spans().size()}};
}

// Microseconds with exactly three decimals: exact, and cheaper than double formatting.
char* put_us(char* p, int64_t ns) {
  if (ns < 0) *p++ = '-', ns = -ns;
  p = std::to_chars(p, p + 20, ns / 1000).ptr;
  const int frac = static_cast<int>(ns % 1000);
  *p++ = '.';
  *p++ = static_cast<char>('0' + frac / 100);
  *p++ = static_cast<char>('0' + frac / 10 % 10);
  *p++ = static_cast<char>('0' + frac % 10);
  return p;
}

template <size_t N>
char* put(char* p, const char (&literal)[N]) {
  return std::copy_n(literal, N - 1, p);
}

char* put_int(char* p, auto v) { return std::to_chars(p, p + 24, v).ptr; }

// Complete events are formatted by hand (a long run writes millions); strings go
// through nlohmann's escaping once per distinct name.
void write_spans(std::ostream& out, const TraceBuffer& b, const ActorTracks& t, int64_t origin) {
  const auto& spans = b.spans();
  // By start, enclosing spans first: the order a viewer nests them in.
  std::vector<size_t> order(spans.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    const Span &p = spans[x], &q = spans[y];
    return p.start_ns != q.start_ns ? p.start_ns < q.start_ns : p.end_ns > q.end_ns;
  });
  std::unordered_map<std::string, std::string> quoted;
  const std::string role = quote(b.role());
  char num[160];
  for (size_t i : order) {
    const Span& s = spans[i];
    auto q = quoted.find(s.name);
    if (q == quoted.end()) q = quoted.emplace(s.name, quote(s.name)).first;
    const size_t lane = static_cast<size_t>(t.lane[i]);
    const int tid = s.kind == SpanKind::Message ? t.inbox_tids[lane] : t.compute_tids[lane];
    out << ",\n{\"name\":" << q->second << ",\"cat\":\"" << kind_name(s.kind) << "\",\"ph\":\"X\",\"pid\":";
    char* p = num;
    p = put_int(p, kPid);
    p = put(p, ",\"tid\":");
    p = put_int(p, tid);
    p = put(p, ",\"ts\":");
    p = put_us(p, s.start_ns - origin);
    p = put(p, ",\"dur\":");
    p = put_us(p, s.end_ns - s.start_ns);
    p = put(p, ",\"args\":{\"layer\":");
    p = put_int(p, s.layer);
    p = put(p, ",\"token\":");
    p = put_int(p, s.token);
    p = put(p, ",\"bytes\":");
    p = put_int(p, s.bytes);
    p = put(p, ",\"role\":");
    out.write(num, p - num);
    out << role << "}}";
  }
}

}  // namespace

void write_chrome_trace(const std::filesystem::path& path, std::span<const TraceBuffer> buffers) {
  int64_t origin = std::numeric_limits<int64_t>::max();
  for (const TraceBuffer& b : buffers)
    for (const Span& s : b.spans()) origin = std::min(origin, s.start_ns);
  if (origin == std::numeric_limits<int64_t>::max()) origin = 0;
  const std::vector<ActorTracks> tracks = layout(buffers);

  // Whole or not at all: an existing trace stays until the new one is complete.
  AtomicOutput whole(path);
  std::ofstream out(whole.temp_path(), std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write trace file '" + path.string() + "'");
  out << "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[";
  EventStream events(out);
  events.emit(metadata("process_name", 0, {{"name", std::string(kTraceGenerator)}}));
  json actors = json::array();
  for (size_t a = 0; a < buffers.size(); ++a)
    actors.push_back(write_threads(events, buffers[a], tracks[a], static_cast<int>(a) * 1000));
  for (size_t a = 0; a < buffers.size(); ++a) write_spans(out, buffers[a], tracks[a], origin);
  const json other = {{"generator", std::string(kTraceGenerator)},
                      {"format_version", kTraceFormatVersion},
                      {"origin_ns", origin},
                      {"actors", actors}};
  out << "\n],\"otherData\":" << other.dump(-1, ' ', false, json::error_handler_t::replace) << "}\n";
  out.close();
  if (!out) throw std::runtime_error("error writing trace file '" + path.string() + "' (disk full?)");
  whole.commit();
}

}  // namespace actinfer::trace
