// format_summary() and summary_json(): the two outputs of `actinfer trace`.
#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "trace/trace_summary.h"

namespace actinfer::trace {
namespace {

__attribute__((format(printf, 1, 2))) std::string printf_string(const char* fmt, ...) {
  va_list args, again;
  va_start(args, fmt);
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, again);
  va_end(again);
  return out;
}

constexpr size_t kMaxNames = 12;

}  // namespace

std::string format_summary(const TraceSummary& s) {
  std::string out = printf_string("trace: %.3f ms wall, %d tokens, %zu actors\n\n", s.wall_ms, s.n_tokens, s.actors.size());
  int w = 5;
  for (const ActorSummary& a : s.actors) w = std::max(w, static_cast<int>(a.actor.size()));
  out += printf_string("%-*s  %-10s  %6s  %11s  %11s  %11s  %8s\n", w, "actor", "role", "busy", "compute ms",
                       "msg-in ms", "wait ms", "spans");
  for (const ActorSummary& a : s.actors)
    out += printf_string("%-*s  %-10s  %5.1f%%  %11.3f  %11.3f  %11.3f  %8lld\n", w, a.actor.c_str(), a.role.c_str(),
                         100 * a.busy_fraction, a.compute_ms, a.message_ms, a.wait_ms,
                         static_cast<long long>(a.n_spans));

  out += "\n";
  out += printf_string("hot/cold FFN overlap     %.1f%% of cold-FFN time, %.1f%% of hot-FFN time\n", 100 * s.hot_cold_overlap,
                       100 * s.hot_covered_by_cold);
  out += printf_string("messages per token       %.2f\n", s.messages_per_token);
  out += printf_string("layer critical path      %.1f us mean over %lld (token, layer)\n",
                       s.mean_layer_critical_path_us, static_cast<long long>(s.n_layer_paths));
  out += printf_string("compute / messaging      %.3f ms / %.3f ms\n", s.compute_ms, s.messaging_ms);

  if (!s.names.empty()) {
    int nw = 4;
    for (const NameSummary& n : s.names) nw = std::max(nw, static_cast<int>(n.name.size()));
    out += printf_string("\n%-*s  %-7s  %8s  %11s  %10s\n", nw, "span", "kind", "count", "total ms", "mean us");
    for (size_t i = 0; i < s.names.size() && i < kMaxNames; ++i) {
      const NameSummary& n = s.names[i];
      out += printf_string("%-*s  %-7s  %8lld  %11.3f  %10.2f\n", nw, n.name.c_str(),
                           std::string(kind_name(n.kind)).c_str(), static_cast<long long>(n.count), n.total_ms,
                           n.mean_us);
    }
    if (s.names.size() > kMaxNames) out += printf_string("(%zu more span names)\n", s.names.size() - kMaxNames);
  }
  return out;
}

std::string summary_json(const TraceSummary& s) {
  using json = nlohmann::ordered_json;  // fields in the order of TraceSummary
  json actors = json::array();
  for (const ActorSummary& a : s.actors)
    actors.push_back({{"actor", a.actor},
                      {"role", a.role},
                      {"busy_fraction", a.busy_fraction},
                      {"compute_ms", a.compute_ms},
                      {"message_ms", a.message_ms},
                      {"wait_ms", a.wait_ms},
                      {"n_spans", a.n_spans}});
  json names = json::array();
  for (const NameSummary& n : s.names)
    names.push_back({{"name", n.name},
                     {"kind", std::string(kind_name(n.kind))},
                     {"count", n.count},
                     {"total_ms", n.total_ms},
                     {"mean_us", n.mean_us}});
  const json j = {{"wall_ms", s.wall_ms},
                  {"n_tokens", s.n_tokens},
                  {"actors", actors},
                  {"hot_cold_overlap", s.hot_cold_overlap},
                  {"hot_covered_by_cold", s.hot_covered_by_cold},
                  {"messages_per_token", s.messages_per_token},
                  {"mean_layer_critical_path_us", s.mean_layer_critical_path_us},
                  {"n_layer_paths", s.n_layer_paths},
                  {"messaging_ms", s.messaging_ms},
                  {"compute_ms", s.compute_ms},
                  {"names", names}};
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

}  // namespace actinfer::trace
