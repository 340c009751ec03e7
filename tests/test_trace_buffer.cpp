// TraceBuffer (recording, scopes, disabled buffers) and the lane layout.
#include <doctest/doctest.h>

#include <utility>
#include <vector>

#include "trace/trace_buffer.h"
#include "trace/track_layout.h"

using namespace actinfer::trace;

TEST_CASE("trace buffer: a disabled buffer records nothing and reserves nothing") {
  TraceBuffer b("gpu-worker", "gpu-worker", false);
  CHECK_FALSE(b.enabled());
  b.record(Span{"attention", SpanKind::Compute, 0, 0, 10, 20, 0});
  { auto s = b.scope("ffn_hot", 0, 0, 128); }
  b.message("msg:activation", 0, 0, now_ns());
  CHECK(b.spans().empty());
  CHECK(b.spans().capacity() == 0);
  CHECK(b.actor() == "gpu-worker");
  CHECK(b.role() == "gpu-worker");
}

TEST_CASE("trace buffer: record appends as given, clamping an end before the start") {
  TraceBuffer b("cpu-worker-0", "cpu-worker", true);
  b.record(Span{"ffn_cold", SpanKind::Compute, 2, 5, 100, 250, 4096});
  b.record(Span{"msg:activation", SpanKind::Message, 3, 5, 300, 290, 0});
  REQUIRE(b.spans().size() == 2);
  const Span& s = b.spans()[0];
  CHECK(s.name == "ffn_cold");
  CHECK(s.kind == SpanKind::Compute);
  CHECK(s.layer == 2);
  CHECK(s.token == 5);
  CHECK(s.start_ns == 100);
  CHECK(s.end_ns == 250);
  CHECK(s.bytes == 4096);
  CHECK(b.spans()[1].end_ns == 300);
}

TEST_CASE("trace buffer: recording within the reserve does not reallocate") {
  TraceBuffer b("merge", "merge", true, 64);
  REQUIRE(b.spans().capacity() >= 64);
  b.record(Span{"merge", SpanKind::Compute, 0, 0, 0, 1, 0});
  const Span* data = b.spans().data();
  for (int i = 1; i < 64; ++i) b.record(Span{"merge", SpanKind::Compute, i, 0, i, i + 1, 0});
  CHECK(b.spans().data() == data);
  CHECK(b.spans().size() == 64);
}

TEST_CASE("trace buffer: a scope records one Compute span from construction to destruction") {
  TraceBuffer b("gpu-worker", "gpu-worker", true);
  const int64_t before = now_ns();
  {
    auto s = b.scope("attention", 3, 7, 64);
    CHECK(b.spans().empty());
  }
  const int64_t after = now_ns();
  REQUIRE(b.spans().size() == 1);
  const Span& s = b.spans()[0];
  CHECK(s.name == "attention");
  CHECK(s.kind == SpanKind::Compute);
  CHECK(s.layer == 3);
  CHECK(s.token == 7);
  CHECK(s.bytes == 64);
  CHECK(before <= s.start_ns);
  CHECK(s.start_ns <= s.end_ns);
  CHECK(s.end_ns <= after);
}

TEST_CASE("trace buffer: a moved or finished scope records exactly once") {
  TraceBuffer b("gpu-worker", "gpu-worker", true);
  {
    auto a = b.scope("lm_head", -1, 1);
    auto moved = std::move(a);
    moved.set_bytes(12);
    TraceBuffer::Scope assigned;
    assigned = std::move(moved);
  }
  REQUIRE(b.spans().size() == 1);
  CHECK(b.spans()[0].bytes == 12);
  {
    auto s = b.scope("predict", 0, 1);
    s.finish();
    CHECK(b.spans().size() == 2);
  }
  CHECK(b.spans().size() == 2);
}

TEST_CASE("trace buffer: message() records a flight from the send time to now") {
  TraceBuffer b("merge", "merge", true);
  const int64_t sent = now_ns() - 5000;
  b.message("msg:partial", 4, 2, sent, 8192);
  REQUIRE(b.spans().size() == 1);
  const Span& s = b.spans()[0];
  CHECK(s.kind == SpanKind::Message);
  CHECK(s.name == "msg:partial");
  CHECK(s.start_ns == sent);
  CHECK(s.end_ns - s.start_ns >= 5000);
  CHECK(s.bytes == 8192);
}

TEST_CASE("trace kinds: names round-trip") {
  for (SpanKind k : {SpanKind::Compute, SpanKind::Message, SpanKind::Wait}) CHECK(parse_kind(kind_name(k)) == k);
  CHECK(kind_name(SpanKind::Compute) == "compute");
  CHECK_FALSE(parse_kind("flow").has_value());
}

TEST_CASE("track layout: nesting and touching spans share a lane, partial overlaps do not") {
  // [0,100] holds [10,20] and [20,100]; [50,150] overlaps it partially; [150,200] touches both.
  const std::vector<Interval> iv = {{0, 100}, {10, 20}, {20, 100}, {50, 150}, {150, 200}};
  CHECK(assign_lanes(iv, true) == std::vector<int>{0, 0, 0, 1, 0});
  // Without nesting every overlap needs its own lane; lanes are reused once free.
  CHECK(assign_lanes(iv, false) == std::vector<int>{0, 1, 1, 2, 0});
  CHECK(assign_lanes({}, true).empty());
}
