// write_chrome_trace(): the Chrome trace-event JSON Perfetto loads, read back with
// nlohmann; read_chrome_trace(): the round trip and its errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "test_data.h"
#include "trace/chrome_trace.h"

using namespace actinfer::trace;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path test_path(const std::string& name) { return actinfer::testing::test_data_path(name); }

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

constexpr int64_t kBase = 123'456'789'012'345;  // a steady clock ~1.4 days after boot

Span at(const char* name, SpanKind kind, int layer, int token, int64_t start_ns, int64_t end_ns, uint64_t bytes = 0) {
  return Span{name, kind, layer, token, kBase + start_ns, kBase + end_ns, bytes};
}

// gpu-worker: nested scopes; cpu-worker-0: a wait, a message, a cold FFN; cpu-worker-1:
// two messages in flight at once and two cold-FFN spans that overlap without nesting.
std::vector<TraceBuffer> scenario() {
  std::vector<TraceBuffer> b;
  b.emplace_back("gpu-worker", "gpu-worker", true);
  b.emplace_back("cpu-worker-0", "cpu-worker", true);
  b.emplace_back("cpu-worker-1", "cpu-worker", true);
  b[0].record(at("attention", SpanKind::Compute, 0, 0, 0, 100'000));
  b[0].record(at("rope", SpanKind::Compute, 0, 0, 10'500, 20'250));
  b[0].record(at("ffn_hot", SpanKind::Compute, 0, 0, 100'000, 300'000, 1024));
  b[1].record(at("wait", SpanKind::Wait, -1, 0, 0, 90'000));
  b[1].record(at("msg:activation", SpanKind::Message, 0, 0, 90'000, 110'000, 2048));
  b[1].record(at("ffn_cold", SpanKind::Compute, 0, 0, 110'000, 210'000));
  b[2].record(at("msg:activation", SpanKind::Message, 0, 0, 95'000, 120'000, 2048));
  b[2].record(at("msg:activation", SpanKind::Message, 1, 0, 100'000, 130'000, 2048));
  b[2].record(at("ffn_cold", SpanKind::Compute, 0, 0, 120'000, 320'000));
  b[2].record(at("ffn_cold_down", SpanKind::Compute, 0, 0, 300'000, 400'000));
  return b;
}

// Complete events of one tid must be disjoint or nested for Perfetto to show them all.
bool properly_nested(std::vector<std::pair<double, double>> ev) {
  std::sort(ev.begin(), ev.end(), [](auto& a, auto& b) { return a.first != b.first ? a.first < b.first : a.second > b.second; });
  std::vector<double> open;
  for (auto [ts, dur] : ev) {
    while (!open.empty() && open.back() <= ts) open.pop_back();
    if (!open.empty() && open.back() < ts + dur) return false;
    open.push_back(ts + dur);
  }
  return true;
}

std::vector<std::tuple<std::string, SpanKind, int, int, int64_t, int64_t, uint64_t>> sorted(const TraceBuffer& b) {
  std::vector<std::tuple<std::string, SpanKind, int, int, int64_t, int64_t, uint64_t>> v;
  for (const Span& s : b.spans()) v.emplace_back(s.name, s.kind, s.layer, s.token, s.start_ns, s.end_ns, s.bytes);
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("chrome trace: top level, metadata events and one thread per actor") {
  const fs::path path = test_path("trace_structure.json");
  const std::vector<TraceBuffer> buffers = scenario();
  write_chrome_trace(path, buffers);
  const json doc = read_json(path);

  CHECK(doc["displayTimeUnit"] == "ns");
  REQUIRE(doc["traceEvents"].is_array());
  const json& other = doc["otherData"];
  CHECK(other["generator"] == "actinfer");
  CHECK(other["format_version"] == 1);
  CHECK(other["origin_ns"] == kBase);
  REQUIRE(other["actors"].size() == 3);
  CHECK(other["actors"][0]["actor"] == "gpu-worker");
  CHECK(other["actors"][1]["role"] == "cpu-worker");
  CHECK(other["actors"][2]["n_spans"] == 4);

  std::map<int, std::string> thread_names;
  int process_names = 0, sort_indices = 0;
  for (const json& e : doc["traceEvents"]) {
    if (e["ph"] != "M") continue;
    CHECK(e["pid"] == 1);
    if (e["name"] == "process_name") {
      ++process_names;
      CHECK(e["args"]["name"] == "actinfer");
    }
    if (e["name"] == "thread_sort_index") ++sort_indices;
    if (e["name"] == "thread_name") thread_names[e["tid"].get<int>()] = e["args"]["name"].get<std::string>();
  }
  CHECK(process_names == 1);
  // Actors own tids 1..3; extra rows for overlapping spans follow, in actor order.
  const std::map<int, std::string> expected = {{1, "gpu-worker"},          {2, "cpu-worker-0"},
                                               {3, "cpu-worker-1"},        {4, "cpu-worker-0 inbox"},
                                               {5, "cpu-worker-1 overlap 2"}, {6, "cpu-worker-1 inbox"},
                                               {7, "cpu-worker-1 inbox 2"}};
  CHECK(thread_names == expected);
  CHECK(sort_indices == 7);
  CHECK(other["actors"][0]["tids"] == json::array({1}));
  CHECK(other["actors"][1]["tids"] == json::array({2, 4}));
  CHECK(other["actors"][2]["tids"] == json::array({3, 5, 6, 7}));
}

TEST_CASE("chrome trace: complete events carry kind, microsecond times and args") {
  const fs::path path = test_path("trace_events.json");
  write_chrome_trace(path, scenario());
  const json doc = read_json(path);

  std::map<int, std::vector<std::pair<double, double>>> by_tid;
  std::map<std::string, json> first_of;
  int n = 0;
  for (const json& e : doc["traceEvents"]) {
    if (e["ph"] != "X") continue;
    ++n;
    REQUIRE(e["ts"].is_number());
    REQUIRE(e["dur"].is_number());
    CHECK(e["pid"] == 1);
    for (const char* key : {"layer", "token", "bytes", "role"}) CHECK(e["args"].contains(key));
    by_tid[e["tid"].get<int>()].emplace_back(e["ts"].get<double>(), e["dur"].get<double>());
    first_of.try_emplace(e["name"].get<std::string>(), e);
  }
  CHECK(n == 10);

  const json& rope = first_of.at("rope");  // 10.5 us to 20.25 us after the first span
  CHECK(rope["cat"] == "compute");
  CHECK(rope["tid"] == 1);
  CHECK(rope["ts"].get<double>() == 10.5);
  CHECK(rope["dur"].get<double>() == 9.75);
  CHECK(rope["args"]["layer"] == 0);
  CHECK(rope["args"]["token"] == 0);
  CHECK(rope["args"]["role"] == "gpu-worker");

  const json& hot = first_of.at("ffn_hot");
  CHECK(hot["ts"].get<double>() == 100.0);
  CHECK(hot["dur"].get<double>() == 200.0);
  CHECK(hot["args"]["bytes"] == 1024);

  const json& wait = first_of.at("wait");
  CHECK(wait["cat"] == "wait");
  CHECK(wait["tid"] == 2);
  CHECK(wait["ts"].get<double>() == 0.0);
  CHECK(wait["args"]["layer"] == -1);

  const json& msg = first_of.at("msg:activation");  // cpu-worker-0's, in its inbox row
  CHECK(msg["cat"] == "message");
  CHECK(msg["tid"] == 4);
  CHECK(msg["ts"].get<double>() == 90.0);
  CHECK(msg["dur"].get<double>() == 20.0);
  CHECK(msg["args"]["bytes"] == 2048);
  CHECK(msg["args"]["role"] == "cpu-worker");

  CHECK(first_of.at("ffn_cold_down")["tid"] == 5);  // overlaps ffn_cold without nesting
  CHECK(by_tid.at(1).size() == 3);                   // attention holds rope: one row
  CHECK(by_tid.at(6).size() == 1);
  CHECK(by_tid.at(7).size() == 1);
  for (const auto& entry : by_tid) CHECK_MESSAGE(properly_nested(entry.second), "tid " << entry.first);
}

TEST_CASE("chrome trace: read_chrome_trace gives back the recorded spans exactly") {
  const fs::path path = test_path("trace_roundtrip.json");
  std::vector<TraceBuffer> buffers = scenario();
  buffers.emplace_back("predictor", "predictor", true);  // no spans: still an actor
  write_chrome_trace(path, buffers);
  const std::vector<TraceBuffer> back = read_chrome_trace(path);
  REQUIRE(back.size() == buffers.size());
  for (size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i].actor() == buffers[i].actor());
    CHECK(back[i].role() == buffers[i].role());
    CHECK(sorted(back[i]) == sorted(buffers[i]));
  }
}

TEST_CASE("chrome trace: names with quotes, backslashes and control characters are escaped") {
  const fs::path path = test_path("trace_escape.json");
  std::vector<TraceBuffer> buffers;
  buffers.emplace_back("cpu \"worker\" 0", "cpu-worker", true);
  buffers[0].record(Span{"say \"hi\"\\\n\t\x01 µs", SpanKind::Compute, 1, 2, 10, 20, 3});
  write_chrome_trace(path, buffers);
  CHECK_NOTHROW(read_json(path));
  const auto back = read_chrome_trace(path);
  REQUIRE(back.size() == 1);
  CHECK(back[0].actor() == buffers[0].actor());
  CHECK(sorted(back[0]) == sorted(buffers[0]));
}

TEST_CASE("chrome trace: no buffers or no spans still make a valid trace") {
  const fs::path path = test_path("trace_empty.json");
  write_chrome_trace(path, {});
  CHECK(read_json(path)["traceEvents"].size() == 1);  // process_name
  CHECK(read_chrome_trace(path).empty());
  std::vector<TraceBuffer> idle;
  idle.emplace_back("driver", "driver", false);
  write_chrome_trace(path, idle);
  const auto back = read_chrome_trace(path);
  REQUIRE(back.size() == 1);
  CHECK(back[0].spans().empty());
}

TEST_CASE("chrome trace: missing, malformed and foreign files give clear errors") {
  using doctest::Contains;
  CHECK_THROWS_WITH_AS(read_chrome_trace("/nonexistent/trace.json"),
                       Contains("trace file '/nonexistent/trace.json' not found"), std::runtime_error);
  CHECK_THROWS_WITH_AS(read_chrome_trace(test_path("")), Contains("is a directory"), std::runtime_error);

  const fs::path path = test_path("trace_bad.json");
  auto error_for = [&](const std::string& text) {
    write_text(path, text);
    try {
      read_chrome_trace(path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto contains = [](const std::string& s, const char* part) { return s.find(part) != std::string::npos; };
  const std::string truncated = error_for("{\"traceEvents\": [");
  CHECK(contains(truncated, "trace_bad.json"));
  CHECK(contains(truncated, "not valid JSON"));
  CHECK(contains(error_for(""), "not valid JSON"));
  CHECK(contains(error_for("[1, 2]"), "not an actinfer trace (top level is not an object)"));
  CHECK(contains(error_for("{\"traceEvents\": []}"), "not an actinfer trace (no \"otherData\" object)"));
  CHECK(contains(error_for("{\"traceEvents\": [], \"otherData\": {\"generator\": \"chrome\"}}"),
                 "otherData.generator is not \"actinfer\""));
  CHECK(contains(error_for("{\"otherData\": {\"generator\": \"actinfer\"}}"), "no \"traceEvents\" array"));

  const std::string ours = R"({"otherData": {"generator": "actinfer", "format_version": 1, "origin_ns": 0,
      "actors": [{"actor": "gpu-worker", "role": "gpu-worker", "tids": [1]}]}, "traceEvents": )";
  CHECK(contains(error_for(R"({"otherData": {"generator": "actinfer", "format_version": 2}, "traceEvents": []})"),
                 "format_version 2 is not the supported 1"));
  CHECK(contains(error_for(ours + R"([{"ph": "X", "tid": 9, "name": "a", "cat": "compute", "ts": 0, "dur": 1}]})"),
                 "tid 9 is not one of otherData.actors"));
  CHECK(contains(error_for(ours + R"([{"ph": "X", "tid": 1, "name": "a", "cat": "flow", "ts": 0, "dur": 1}]})"),
                 "cat is not compute, message or wait"));
  CHECK(contains(error_for(ours + R"([{"ph": "X", "tid": 1, "name": "a", "cat": "compute", "ts": "x", "dur": 1}]})"),
                 "'ts' is not a number"));
  CHECK(contains(error_for(ours + R"([{"ph": 5}]})"), "event 0: no \"ph\" string"));
  CHECK(contains(error_for(ours + R"([{"ph": "M"}, 7]})"), "event 1: not an object"));
  CHECK(contains(error_for(R"({"traceEvents": [], "otherData": {"generator": "actinfer", "format_version": 1, "actors": 3}})"),
                 "no otherData.actors array"));
  CHECK(contains(error_for(ours + R"([{"ph": "X", "tid": 1, "name": "a", "cat": "compute", "ts": 2.5, "dur": 1}]})"),
                 "no error"));
}

TEST_CASE("chrome trace: an unwritable path is an error") {
  CHECK_THROWS_WITH_AS(write_chrome_trace("/nonexistent/dir/trace.json", scenario()),
                       doctest::Contains("cannot write /nonexistent/dir/trace.json: cannot create a file in /nonexistent/dir"),
                       std::runtime_error);
}
