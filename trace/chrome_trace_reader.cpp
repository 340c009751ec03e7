#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <system_error>

#include "trace/chrome_trace.h"

namespace actinfer::trace {
namespace {

using json = nlohmann::ordered_json;  // small objects as vectors: faster to build and drop

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw std::runtime_error("trace file '" + file + "': " + what);
}
[[noreturn]] void not_ours(const std::string& file, const std::string& why) {
  fail(file, "not an actinfer trace (" + why + "); write one with write_chrome_trace()");
}

// A complete event, before its tid is matched with otherData.actors.
struct Event {
  int64_t tid;
  Span span;  // times relative to otherData.origin_ns
};

// The parse callback: turns each traceEvents element into an Event as soon as it is
// read and drops it from the document, which so stays small however long the trace.
class EventCollector {
 public:
  explicit EventCollector(const std::string& file) : file_(file) {}

  bool operator()(int depth, json::parse_event_t ev, json& parsed) {
    using E = json::parse_event_t;
    if (depth == 1 && ev == E::key) {
      top_key_ = parsed.get<std::string>();
    } else if (depth == 1 && top_key_ == "traceEvents" && (ev == E::array_start || ev == E::array_end)) {
      in_events_ = ev == E::array_start;
      saw_events_ = true;
    } else if (in_events_ && depth == 2 && (ev == E::object_end || ev == E::value)) {
      add(parsed, index_++);
      return false;
    }
    return true;
  }

  bool saw_events() const { return saw_events_; }
  std::vector<Event>& events() { return events_; }

 private:
  [[noreturn]] void bad(size_t i, const std::string& what) const { fail(file_, "event " + std::to_string(i) + ": " + what); }

  // Nanoseconds from a microsecond value.
  int64_t ns(const json& e, const char* key, size_t i) const {
    const auto it = e.find(key);
    if (it == e.end() || !it->is_number()) bad(i, std::string("'") + key + "' is not a number");
    const double v = it->get<double>();
    if (!std::isfinite(v) || std::abs(v) > 9e12) bad(i, std::string("'") + key + "' is out of range");
    return std::llround(v * 1000.0);
  }

  static int64_t int_arg(const json& args, const char* key, int64_t missing) {
    const auto it = args.find(key);
    return it != args.end() && it->is_number_integer() ? it->get<int64_t>() : missing;
  }

  void add(json& e, size_t i) {
    if (!e.is_object()) bad(i, "not an object");
    const auto ph = e.find("ph");
    if (ph == e.end() || !ph->is_string()) bad(i, "no \"ph\" string");
    if (*ph != "X") return;  // metadata
    const auto tid = e.find("tid");
    if (tid == e.end() || !tid->is_number_integer()) bad(i, "no integer tid");
    const auto name = e.find("name");
    if (name == e.end() || !name->is_string()) bad(i, "no name");
    const auto cat = e.find("cat");
    const auto kind = cat != e.end() && cat->is_string() ? parse_kind(cat->get<std::string>()) : std::nullopt;
    if (!kind) bad(i, "cat is not compute, message or wait");
    const auto a = e.find("args");
    static const json kNoArgs = json::object();
    const json& args = a != e.end() && a->is_object() ? static_cast<const json&>(*a) : kNoArgs;
    Event out{tid->get<int64_t>(), {}};
    Span& s = out.span;
    s.name = std::move(name->get_ref<std::string&>());
    s.kind = *kind;
    s.layer = static_cast<int>(int_arg(args, "layer", -1));
    s.token = static_cast<int>(int_arg(args, "token", -1));
    s.bytes = static_cast<uint64_t>(std::max<int64_t>(int_arg(args, "bytes", 0), 0));
    s.start_ns = ns(e, "ts", i);
    s.end_ns = s.start_ns + ns(e, "dur", i);
    events_.push_back(std::move(out));
  }

  const std::string& file_;
  std::string top_key_;
  bool in_events_ = false, saw_events_ = false;
  size_t index_ = 0;
  std::vector<Event> events_;
};

json load(const std::filesystem::path& path, const std::string& file, EventCollector& collector) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw std::runtime_error("trace file '" + file + "' not found");
  if (std::filesystem::is_directory(path, ec)) fail(file, "is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(file, "cannot be opened");
  try {
    return json::parse(in, std::ref(collector));
  } catch (const json::parse_error& e) {
    fail(file, std::string("not valid JSON: ") + e.what());
  }
}

std::vector<TraceBuffer> to_buffers(const std::string& file, const json& doc, std::vector<Event>& events) {
  const auto other = doc.find("otherData");
  if (other == doc.end() || !other->is_object()) not_ours(file, "no \"otherData\" object");
  const json generator = other->value("generator", json());
  if (!generator.is_string() || generator.get<std::string>() != kTraceGenerator)
    not_ours(file, "otherData.generator is not \"actinfer\"");
  const json version = other->value("format_version", json());
  if (version != kTraceFormatVersion)
    fail(file, "format_version " + version.dump() + " is not the supported " + std::to_string(kTraceFormatVersion));
  const auto actors = other->find("actors");
  if (actors == other->end() || !actors->is_array()) not_ours(file, "no otherData.actors array");
  const auto o = other->find("origin_ns");
  const int64_t origin = o != other->end() && o->is_number_integer() ? o->get<int64_t>() : 0;

  std::vector<TraceBuffer> buffers;
  std::map<int64_t, size_t> actor_of_tid;
  for (const json& a : *actors) {
    const std::string entry = "otherData.actors[" + std::to_string(buffers.size()) + "]";
    if (!a.is_object() || !a.contains("actor") || !a["actor"].is_string() || !a.contains("role") ||
        !a["role"].is_string() || !a.contains("tids") || !a["tids"].is_array())
      fail(file, entry + " lacks actor, role or tids");
    const auto n = a.find("n_spans");
    const size_t reserve = n != a.end() && n->is_number_unsigned() ? std::min<size_t>(n->get<size_t>(), 1 << 20) : 0;
    buffers.emplace_back(a["actor"].get<std::string>(), a["role"].get<std::string>(), true, reserve);
    for (const json& tid : a["tids"]) {
      if (!tid.is_number_integer()) fail(file, entry + ": a tid is not an integer");
      actor_of_tid[tid.get<int64_t>()] = buffers.size() - 1;
    }
  }
  for (Event& e : events) {
    const auto it = actor_of_tid.find(e.tid);
    if (it == actor_of_tid.end()) fail(file, "tid " + std::to_string(e.tid) + " is not one of otherData.actors");
    e.span.start_ns += origin;
    e.span.end_ns += origin;
    buffers[it->second].record(std::move(e.span));
  }
  return buffers;
}

}  // namespace

std::vector<TraceBuffer> read_chrome_trace(const std::filesystem::path& path) {
  const std::string file = path.string();
  EventCollector collector(file);
  try {
    const json doc = load(path, file, collector);
    if (!doc.is_object()) not_ours(file, "top level is not an object");
    if (!collector.saw_events()) not_ours(file, "no \"traceEvents\" array");
    return to_buffers(file, doc, collector.events());
  } catch (const json::exception& e) {  // a field of an unexpected type
    fail(file, std::string("malformed: ") + e.what());
  }
}

}  // namespace actinfer::trace
