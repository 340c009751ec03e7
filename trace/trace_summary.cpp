#include "trace/trace_summary.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "trace/chrome_trace.h"
#include "trace/track_layout.h"

namespace actinfer::trace {
namespace {

// Sorted, disjoint union of intervals.
std::vector<Interval> merged(std::vector<Interval> v) {
  std::sort(v.begin(), v.end(), [](const Interval& a, const Interval& b) { return a.start_ns < b.start_ns; });
  std::vector<Interval> out;
  for (const Interval& i : v) {
    if (!out.empty() && i.start_ns <= out.back().end_ns)
      out.back().end_ns = std::max(out.back().end_ns, i.end_ns);
    else
      out.push_back(i);
  }
  return out;
}

int64_t length(const std::vector<Interval>& disjoint) {
  int64_t n = 0;
  for (const Interval& i : disjoint) n += i.end_ns - i.start_ns;
  return n;
}

// Length of [s, e) covered by a sorted, disjoint union.
int64_t covered(const std::vector<Interval>& disjoint, int64_t s, int64_t e) {
  int64_t n = 0;
  auto it = std::upper_bound(disjoint.begin(), disjoint.end(), s,
                             [](int64_t t, const Interval& i) { return t < i.end_ns; });
  for (; it != disjoint.end() && it->start_ns < e; ++it) n += std::min(e, it->end_ns) - std::max(s, it->start_ns);
  return n;
}

double ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

bool is_hot(const TraceBuffer& b, const Span& s) {
  return s.kind == SpanKind::Compute && b.role() == "gpu-worker" && s.name == "ffn_hot";
}
bool is_cold(const TraceBuffer& b, const Span& s) {
  return s.kind == SpanKind::Compute && b.role() == "cpu-worker" && s.name.starts_with("ffn_cold");
}

ActorSummary summarize_actor(const TraceBuffer& b, int64_t wall_ns) {
  std::vector<Interval> compute, wait;
  int64_t received_ns = 0;
  for (const Span& s : b.spans()) {
    if (s.kind == SpanKind::Compute) compute.push_back({s.start_ns, s.end_ns});
    if (s.kind == SpanKind::Wait) wait.push_back({s.start_ns, s.end_ns});
    if (s.kind == SpanKind::Message) received_ns += s.end_ns - s.start_ns;
  }
  ActorSummary a;
  a.actor = b.actor();
  a.role = b.role();
  const int64_t compute_ns = length(merged(std::move(compute)));
  a.compute_ms = ms(compute_ns);
  a.busy_fraction = wall_ns > 0 ? static_cast<double>(compute_ns) / static_cast<double>(wall_ns) : 0;
  a.message_ms = ms(received_ns);
  a.wait_ms = ms(length(merged(std::move(wait))));
  a.n_spans = static_cast<int64_t>(b.spans().size());
  return a;
}

using Key = std::pair<int, int>;  // (token, layer)

// The fraction of the time of spans matching `of` that spans matching `by` of
// the same (token, layer) cover.
template <class Of, class By>
double coverage(std::span<const TraceBuffer> buffers, Of of, By by) {
  std::map<Key, std::vector<Interval>> cover;
  for (const TraceBuffer& b : buffers)
    for (const Span& s : b.spans())
      if (by(b, s)) cover[{s.token, s.layer}].push_back({s.start_ns, s.end_ns});
  for (auto& [key, v] : cover) v = merged(std::move(v));
  int64_t total_ns = 0, covered_ns = 0;
  for (const TraceBuffer& b : buffers)
    for (const Span& s : b.spans()) {
      if (!of(b, s)) continue;
      total_ns += s.end_ns - s.start_ns;
      if (auto it = cover.find({s.token, s.layer}); it != cover.end()) covered_ns += covered(it->second, s.start_ns, s.end_ns);
    }
  return total_ns > 0 ? static_cast<double>(covered_ns) / static_cast<double>(total_ns) : 0;
}

double hot_cold_overlap(std::span<const TraceBuffer> buffers) { return coverage(buffers, is_cold, is_hot); }

std::vector<NameSummary> summarize_names(std::span<const TraceBuffer> buffers) {
  std::map<std::pair<std::string, SpanKind>, std::pair<int64_t, int64_t>> by_name;  // count, ns
  for (const TraceBuffer& b : buffers)
    for (const Span& s : b.spans()) {
      auto& [count, ns] = by_name[{s.name, s.kind}];
      ++count;
      ns += s.end_ns - s.start_ns;
    }
  std::vector<NameSummary> names;
  for (const auto& [key, n] : by_name)
    names.push_back({key.first, key.second, n.first, ms(n.second), static_cast<double>(n.second) / 1e3 / n.first});
  std::stable_sort(names.begin(), names.end(),
                   [](const NameSummary& a, const NameSummary& b) { return a.total_ms > b.total_ms; });
  return names;
}

}  // namespace

TraceSummary summarize(std::span<const TraceBuffer> buffers) {
  TraceSummary out;
  int64_t first = std::numeric_limits<int64_t>::max(), last = std::numeric_limits<int64_t>::min();
  std::set<int> tokens;
  int64_t n_messages = 0, message_ns = 0;
  std::map<Key, Interval> layer_path;
  for (const TraceBuffer& b : buffers)
    for (const Span& s : b.spans()) {
      first = std::min(first, s.start_ns);
      last = std::max(last, s.end_ns);
      if (s.token >= 0) tokens.insert(s.token);
      if (s.kind == SpanKind::Message) {
        ++n_messages;
        message_ns += s.end_ns - s.start_ns;
      }
      if (s.token >= 0 && s.layer >= 0) {
        Interval& path = layer_path.try_emplace({s.token, s.layer}, Interval{s.start_ns, s.end_ns}).first->second;
        path.start_ns = std::min(path.start_ns, s.start_ns);
        path.end_ns = std::max(path.end_ns, s.end_ns);
      }
    }
  const int64_t wall_ns = first <= last ? last - first : 0;
  out.wall_ms = ms(wall_ns);
  out.n_tokens = static_cast<int>(tokens.size());
  for (const TraceBuffer& b : buffers) {
    out.actors.push_back(summarize_actor(b, wall_ns));
    out.compute_ms += out.actors.back().compute_ms;
  }
  out.hot_cold_overlap = hot_cold_overlap(buffers);
  out.hot_covered_by_cold = coverage(buffers, is_hot, is_cold);
  out.messages_per_token = out.n_tokens > 0 ? static_cast<double>(n_messages) / out.n_tokens : 0;
  out.messaging_ms = ms(message_ns);
  int64_t path_ns = 0;
  for (const auto& [key, iv] : layer_path) path_ns += iv.end_ns - iv.start_ns;
  out.n_layer_paths = static_cast<int64_t>(layer_path.size());
  out.mean_layer_critical_path_us =
      layer_path.empty() ? 0 : static_cast<double>(path_ns) / 1e3 / static_cast<double>(layer_path.size());
  out.names = summarize_names(buffers);
  return out;
}

TraceSummary summarize(const std::filesystem::path& chrome_json) {
  const std::vector<TraceBuffer> buffers = read_chrome_trace(chrome_json);
  return summarize(std::span<const TraceBuffer>(buffers));
}

}  // namespace actinfer::trace
