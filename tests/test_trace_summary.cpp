// summarize(): every figure of a trace written to a file, against hand-computed values.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_data.h"
#include "trace/chrome_trace.h"
#include "trace/trace_summary.h"

using namespace actinfer::trace;
using doctest::Approx;
namespace fs = std::filesystem;

namespace {

fs::path summary_path(const std::string& name) { return actinfer::testing::test_data_path(name); }

constexpr int64_t kUs = 1000;
constexpr int64_t kBootBase = 7'000'000'000;  // 7 s after boot

Span us(const char* name, SpanKind kind, int layer, int token, int64_t start_us, int64_t end_us) {
  return Span{name, kind, layer, token, kBootBase + start_us * kUs, kBootBase + end_us * kUs, 0};
}

// Two tokens (token t starts at t * 1000 us):
//   gpu-worker:   attention L0 [0,100] holding rope [10,20]; ffn_hot L0 [100,300];
//                 attention L1 [400, 450 (t=0) or 500 (t=1)]; lm_head [800,900] (no layer)
//   cpu-worker-0: wait [0,90]; msg:activation L0 [90,110]; ffn_cold L0 [110,210]
//   cpu-worker-1: msg:activation L0 [95,120];             ffn_cold L0 [250,350]
std::vector<TraceBuffer> two_token_pipeline() {
  std::vector<TraceBuffer> b;
  b.emplace_back("gpu-worker", "gpu-worker", true);
  b.emplace_back("cpu-worker-0", "cpu-worker", true);
  b.emplace_back("cpu-worker-1", "cpu-worker", true);
  for (int t = 0; t < 2; ++t) {
    const int64_t o = t * 1000;
    b[0].record(us("attention", SpanKind::Compute, 0, t, o + 0, o + 100));
    b[0].record(us("rope", SpanKind::Compute, 0, t, o + 10, o + 20));
    b[0].record(us("ffn_hot", SpanKind::Compute, 0, t, o + 100, o + 300));
    b[0].record(us("attention", SpanKind::Compute, 1, t, o + 400, o + 400 + 50 * (t + 1)));
    b[0].record(us("lm_head", SpanKind::Compute, -1, t, o + 800, o + 900));
    b[1].record(us("wait", SpanKind::Wait, -1, t, o + 0, o + 90));
    b[1].record(us("msg:activation", SpanKind::Message, 0, t, o + 90, o + 110));
    b[1].record(us("ffn_cold", SpanKind::Compute, 0, t, o + 110, o + 210));
    b[2].record(us("msg:activation", SpanKind::Message, 0, t, o + 95, o + 120));
    b[2].record(us("ffn_cold", SpanKind::Compute, 0, t, o + 250, o + 350));
  }
  return b;
}

TraceSummary via_file(const std::vector<TraceBuffer>& buffers, const std::string& name) {
  const fs::path path = summary_path(name);
  write_chrome_trace(path, buffers);
  return summarize(path);
}

// Hot-FFN spans on a gpu-worker, cold ones on two cpu-workers; the overlap figure.
// (Each test case passes its own file name: ctest may run test cases in parallel.)
double overlap(const std::vector<Span>& hot, const std::vector<Span>& cold0, const std::vector<Span>& cold1,
               const std::string& file = "trace_overlap.json") {
  std::vector<TraceBuffer> b;
  b.emplace_back("gpu-worker", "gpu-worker", true);
  b.emplace_back("cpu-worker-0", "cpu-worker", true);
  b.emplace_back("cpu-worker-1", "cpu-worker", true);
  for (const Span& s : hot) b[0].record(s);
  for (const Span& s : cold0) b[1].record(s);
  for (const Span& s : cold1) b[2].record(s);
  return via_file(b, file).hot_cold_overlap;
}

double hot_covered(const std::vector<Span>& hot, const std::vector<Span>& cold0) {
  std::vector<TraceBuffer> b;
  b.emplace_back("gpu-worker", "gpu-worker", true);
  b.emplace_back("cpu-worker-0", "cpu-worker", true);
  for (const Span& s : hot) b[0].record(s);
  for (const Span& s : cold0) b[1].record(s);
  return via_file(b, "trace_hot_covered.json").hot_covered_by_cold;
}

Span hot(int64_t s, int64_t e, int layer = 0, int token = 0) { return us("ffn_hot", SpanKind::Compute, layer, token, s, e); }
Span cold(int64_t s, int64_t e, int layer = 0, int token = 0) { return us("ffn_cold", SpanKind::Compute, layer, token, s, e); }

}  // namespace

TEST_CASE("trace summary: busy time, messages, critical path of a two-token pipeline") {
  const TraceSummary s = via_file(two_token_pipeline(), "trace_summary.json");
  CHECK(s.wall_ms == 1.9);  // 0 .. 1900 us
  CHECK(s.n_tokens == 2);
  REQUIRE(s.actors.size() == 3);

  const ActorSummary& gpu = s.actors[0];
  CHECK(gpu.actor == "gpu-worker");
  CHECK(gpu.role == "gpu-worker");
  CHECK(gpu.compute_ms == 0.95);       // (300 + 50 + 100) + (300 + 100 + 100) us; rope nests in attention
  CHECK(gpu.busy_fraction == 0.5);     // 950 / 1900
  CHECK(gpu.message_ms == 0);
  CHECK(gpu.n_spans == 10);

  const ActorSummary& cpu0 = s.actors[1];
  CHECK(cpu0.actor == "cpu-worker-0");
  CHECK(cpu0.role == "cpu-worker");
  CHECK(cpu0.compute_ms == 0.2);
  CHECK(cpu0.busy_fraction == Approx(200.0 / 1900));
  CHECK(cpu0.message_ms == 0.04);  // 2 x 20 us
  CHECK(cpu0.wait_ms == 0.18);
  CHECK(cpu0.n_spans == 6);

  const ActorSummary& cpu1 = s.actors[2];
  CHECK(cpu1.compute_ms == 0.2);
  CHECK(cpu1.message_ms == 0.05);  // 2 x 25 us
  CHECK(cpu1.n_spans == 4);

  CHECK(s.hot_cold_overlap == 0.75);  // per token: 100 of cpu0's 100 us, 50 of cpu1's 100 us
  CHECK(s.messages_per_token == 2.0);
  // (token, layer 0): 0 .. 350 us twice; (0, 1): 50 us; (1, 1): 100 us.
  CHECK(s.n_layer_paths == 4);
  CHECK(s.mean_layer_critical_path_us == 212.5);
  CHECK(s.messaging_ms == Approx(0.09));
  CHECK(s.compute_ms == Approx(1.35));

  REQUIRE(s.names.size() == 7);
  CHECK(s.names[0].total_ms == 0.4);  // ffn_cold and ffn_hot, 400 us each
  CHECK(s.names[1].total_ms == 0.4);
  bool found = false;
  for (const NameSummary& n : s.names)
    if (n.name == "msg:activation") {
      found = true;
      CHECK(n.kind == SpanKind::Message);
      CHECK(n.count == 4);
      CHECK(n.mean_us == 22.5);
    }
  CHECK(found);
}

TEST_CASE("trace summary: the file gives the same summary as the buffers in memory") {
  const std::vector<TraceBuffer> buffers = two_token_pipeline();
  const TraceSummary a = summarize(buffers);
  const TraceSummary b = via_file(buffers, "trace_same.json");
  CHECK(a.wall_ms == b.wall_ms);
  CHECK(a.hot_cold_overlap == b.hot_cold_overlap);
  CHECK(a.mean_layer_critical_path_us == b.mean_layer_critical_path_us);
  CHECK(a.compute_ms == b.compute_ms);
  CHECK(a.messaging_ms == b.messaging_ms);
  REQUIRE(a.actors.size() == b.actors.size());
  for (size_t i = 0; i < a.actors.size(); ++i) CHECK(a.actors[i].busy_fraction == b.actors[i].busy_fraction);
}

TEST_CASE("trace summary: hot/cold overlap of 0%, 50% and 100%") {
  // 100%: both cold spans lie inside the hot one (a name starting "ffn_cold" counts).
  CHECK(overlap({hot(0, 200)}, {cold(50, 150)}, {us("ffn_cold_up", SpanKind::Compute, 0, 0, 0, 200)}) == 1.0);
  // 50%: 100 of [100,300] and 50 of [150,250]: 150 of 300 us.
  CHECK(overlap({hot(0, 200)}, {cold(100, 300)}, {cold(150, 250)}) == 0.5);
  // 0%: touching only, or at the same time but another layer or token, or hot work
  // that is not a gpu-worker's "ffn_hot" compute.
  CHECK(overlap({hot(0, 200), us("ffn_hot", SpanKind::Message, 0, 0, 200, 300)}, {cold(200, 300)},
                {cold(0, 200, 1, 0), cold(0, 200, 0, 1)}) == 0.0);
  CHECK(overlap({hot(0, 200)}, {}, {us("ffn_hot", SpanKind::Compute, 0, 0, 300, 400), cold(300, 400)}) == 0.0);
  CHECK(overlap({hot(0, 200)}, {us("ffn_hot_x", SpanKind::Compute, 0, 0, 0, 200)}, {}) == 0.0);  // no cold time
  // Hot work split in two: half of [0,400]; overlapping hot spans count once.
  CHECK(overlap({hot(0, 100), hot(200, 300)}, {cold(0, 400)}, {}) == 0.5);
  CHECK(overlap({hot(0, 150), hot(100, 200)}, {cold(0, 200)}, {}) == 1.0);
}

TEST_CASE("trace summary: hot time covered by cold work") {
  // A short hot span inside a long cold one is fully covered (while the cold
  // figure is small: 100 of 400 us).
  CHECK(hot_covered({hot(100, 200)}, {cold(0, 400)}) == 1.0);
  CHECK(overlap({hot(100, 200)}, {cold(0, 400)}, {}, "trace_hot_covered_overlap.json") == 0.25);
  // Half of [0,200] covered; another layer's cold work does not count.
  CHECK(hot_covered({hot(0, 200)}, {cold(100, 300), cold(0, 100, 1, 0)}) == 0.5);
  CHECK(hot_covered({}, {cold(0, 100)}) == 0.0);
}

TEST_CASE("trace summary: empty traces summarize to zeros") {
  const TraceSummary none = via_file({}, "trace_none.json");
  CHECK(none.wall_ms == 0);
  CHECK(none.n_tokens == 0);
  CHECK(none.actors.empty());
  CHECK(none.messages_per_token == 0);
  CHECK(none.mean_layer_critical_path_us == 0);
  std::vector<TraceBuffer> idle;
  idle.emplace_back("driver", "driver", true);
  const TraceSummary one = via_file(idle, "trace_idle.json");
  REQUIRE(one.actors.size() == 1);
  CHECK(one.actors[0].busy_fraction == 0);
  CHECK(format_summary(one).find("driver") != std::string::npos);
}

TEST_CASE("trace summary: a missing or foreign file is a clear error") {
  CHECK_THROWS_WITH_AS(summarize(fs::path("/nonexistent/trace.json")),
                       doctest::Contains("trace file '/nonexistent/trace.json' not found"), std::runtime_error);
  const fs::path text = summary_path("trace_not_json.txt");
  std::ofstream(text) << "# actinfer\nnot a trace\n";
  CHECK_THROWS_WITH_AS(summarize(text), doctest::Contains("not valid JSON"), std::runtime_error);
}

TEST_CASE("trace summary: the table and the JSON") {
  const TraceSummary s = via_file(two_token_pipeline(), "trace_format.json");
  const std::string table = format_summary(s);
  for (const char* part : {"trace: 1.900 ms wall, 2 tokens, 3 actors", "cpu-worker-1", "50.0%",
                           "hot/cold FFN overlap     75.0%", "messages per token       2.00",
                           "layer critical path      212.5 us mean over 4", "msg:activation"})
    CHECK_MESSAGE(table.find(part) != std::string::npos, part << "\n" << table);

  const nlohmann::json j = nlohmann::json::parse(summary_json(s));
  CHECK(j["wall_ms"] == 1.9);
  CHECK(j["n_tokens"] == 2);
  CHECK(j["hot_cold_overlap"] == 0.75);
  CHECK(j["messages_per_token"] == 2.0);
  CHECK(j["mean_layer_critical_path_us"] == 212.5);
  REQUIRE(j["actors"].size() == 3);
  CHECK(j["actors"][0]["actor"] == "gpu-worker");
  CHECK(j["actors"][0]["busy_fraction"] == 0.5);
  CHECK(j["names"].size() == 7);
}
