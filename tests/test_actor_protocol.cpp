// The actor protocol: every message round-trips through CAF's binary serializer
// (directly and inside a type-erased caf::message, which needs its registered
// type id name); a layer sends exactly the messages the design names (counted
// from the trace's message spans); the gpu-worker drops messages of another step.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <unistd.h>
#include <string>
#include <vector>

#include "actors/actor_runtime.h"
#include "actors/gpu_worker.h"
#include "actors/neuron_split.h"
#include "backends/backend.h"
#include "config/deployment_config.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/exit_reason.hpp"
#include "caf/make_message.hpp"
#include "caf/message.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "engine/dense_engine.h"
#include "protocol/type_ids.h"
#include "tests/runtime_comparison.h"
#include "trace/chrome_trace.h"

using namespace actinfer;
using namespace actinfer::protocol;

namespace {

caf::actor_system_config& quiet(caf::actor_system_config& cfg) {
  cfg.set("logger.console", caf::atom("none"));
  cfg.set("scheduler.max-threads", size_t{1});
  register_message_types(cfg);
  return cfg;
}

TensorPtr tensor(int layer, int n_tokens, int width, float first) {
  auto t = std::make_shared<Tensor>();
  t->layer = layer;
  t->n_tokens = n_tokens;
  t->width = width;
  t->data.resize(static_cast<size_t>(n_tokens) * width);
  std::iota(t->data.begin(), t->data.end(), first);
  return t;
}

ActiveSetPtr active_set() {
  auto a = std::make_shared<ActiveSet>();
  a->flags = {1, 0, 1, 1};
  a->per_token = {{0, 2}, {2, 3}};
  return a;
}

// x → bytes → a fresh T, both directly and as the only element of a caf::message.
template <class T>
void check_round_trip(caf::actor_system& sys, T x) {
  const std::string expected = caf::deep_to_string(x);
  CAPTURE(expected);
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE_FALSE(sink(x));
  if constexpr (!std::is_empty_v<T>) CHECK_FALSE(buf.empty());
  T y;
  caf::binary_deserializer source{sys, buf};
  REQUIRE_FALSE(source(y));
  CHECK(caf::deep_to_string(y) == expected);

  std::vector<char> msg_buf;
  caf::binary_serializer msg_sink{sys, msg_buf};
  caf::message m = caf::make_message(x);
  REQUIRE_FALSE(msg_sink(m));
  caf::message back;
  caf::binary_deserializer msg_source{sys, msg_buf};
  REQUIRE_FALSE(msg_source(back));
  REQUIRE(back.match_elements<T>());
  CHECK(caf::deep_to_string(back.get_as<T>(0)) == expected);
}

}  // namespace

TEST_CASE("actor protocol: every message round-trips through CAF's binary serializer with equal contents") {
  caf::actor_system_config cfg;
  caf::actor_system sys{quiet(cfg)};
  check_round_trip(sys, EvalRequest{7, {3, 77, 120, 9}, {StepSequence{2, 5, 3}, StepSequence{0, 11, 1}}, true});
  check_round_trip(sys, LogitsReply{7, tensor(-1, 2, 5, 0.5f), 3});
  check_round_trip(sys, LogitsReply{8, nullptr, 0});  // an absent payload stays absent
  check_round_trip(sys, FfnInput{7, 2, 5, tensor(2, 2, 4, 1.0f), 123});
  check_round_trip(sys, FfnPrediction{7, 2, 5, active_set(), 456});
  check_round_trip(sys, FfnWork{7, 2, 5, 2, tensor(2, 2, 4, -3.0f), active_set(), 789});
  check_round_trip(sys, FfnPartial{7, 2, 5, 2, 1, tensor(2, 2, 4, 9.0f), 4096, 1011});
  check_round_trip(sys, FfnOutput{7, 2, 5, tensor(2, 2, 4, 0.25f), 8192, 1213});
  check_round_trip(sys, JobDone{7, 2, tensor(2, 1, 4, 2.0f), 64, 100, 200});
  check_round_trip(sys, CollectTrace{});
  check_round_trip(sys, CollectStats{true});
  PredictorStats st;
  st.token_layers = 3, st.predicted = 10, st.neurons = 30, st.truth_checked = 2, st.truly_active = 9, st.hits = 8;
  st.predict_ns = 1000, st.predictor_bytes = 1 << 20, st.ffn_weight_bytes = 1 << 22;
  check_round_trip(sys, st);
  check_round_trip(sys, TraceHandoff{"cpu-worker-1", "cpu-worker",
                                     {trace::Span{"ffn_cold", trace::SpanKind::Compute, 1, 5, 10, 20, 64},
                                      trace::Span{"msg:ffn_work", trace::SpanKind::Message, 1, 5, 5, 9, 0}}});
  check_round_trip(sys, Wiring{});

  // The payload is copied into a fresh object, equal element by element.
  const TensorPtr t = tensor(1, 3, 4, 0.5f);
  FfnOutput out{1, 1, 0, t, 0, 0};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE_FALSE(sink(out));
  FfnOutput back;
  caf::binary_deserializer source{sys, buf};
  REQUIRE_FALSE(source(back));
  REQUIRE(back.y);
  CHECK(back.y != t);
  CHECK(back.y->data == t->data);
  CHECK(back.y->n_tokens == 3);
  CHECK(back.y->width == 4);
}

namespace {

const std::vector<int32_t> kTokens = {3, 77, 120, 5};

// Decodes kTokens one at a time with tracing on; returns, per (token, layer), the
// names of the message spans recorded (every actor records each message it receives).
std::map<std::pair<int, int>, std::multiset<std::string>> messages_per_layer(const DeploymentConfig& o) {
  auto w = ModelWeights::load(testing::small_relu_model("protocol_tiny", GgmlType::F32, 11));
  ActorRuntime rt(w, o);
  for (int32_t t : kTokens) rt.eval(std::span<const int32_t>(&t, 1), false);
  const std::filesystem::path path = o.trace;
  rt.write_trace(path);
  std::map<std::pair<int, int>, std::multiset<std::string>> out;
  for (int p = 0; p < static_cast<int>(kTokens.size()); ++p)
    for (int l = 0; l < w->config().n_layers; ++l) out[{p, l}];  // every layer present, even with no message
  for (const trace::TraceBuffer& b : trace::read_chrome_trace(path))
    for (const trace::Span& s : b.spans())
      if (s.kind == trace::SpanKind::Message) out[{s.token, s.layer}].insert(s.name);
  std::filesystem::remove(path);
  return out;
}

DeploymentConfig traced(double hot, int teams, PredictorMode predictor, bool sparse = false) {
  DeploymentConfig o;
  o.engine = {1, 64, 4, 0, false};
  o.hot_fraction = hot;
  o.teams.assign(static_cast<size_t>(teams), TeamConfig{0, {}, 1});
  o.predictor = predictor;
  o.sparse = sparse;
  o.trace = (std::filesystem::temp_directory_path() / ("actinfer_protocol_" + std::to_string(::getpid()) + ".json")).string();
  return o;
}

void check_each_layer(const std::map<std::pair<int, int>, std::multiset<std::string>>& got, const std::multiset<std::string>& expected) {
  CHECK(got.size() == kTokens.size() * 3);
  for (const auto& entry : got) {  // (not a structured binding: clang 14 cannot capture one in INFO)
    const auto& key = entry.first;
    const auto& names = entry.second;
    INFO("token " << key.first << " layer " << key.second << ": " << names.size() << " messages");
    CHECK(names == expected);
  }
}

}  // namespace

TEST_CASE("actor protocol: messages per layer — 0 on the gpu-worker alone, FfnWork + FfnPartial per team, + FfnOutput for 2 teams") {
  SUBCASE("whole layer on the gpu-worker: oracle, all, dense and sparse kernels") {
    for (PredictorMode predictor : {PredictorMode::oracle, PredictorMode::all, PredictorMode::automatic})
      for (bool sparse : {false, true}) {
        CAPTURE(to_string(predictor));
        CAPTURE(sparse);
        check_each_layer(messages_per_layer(traced(1.0, 1, predictor, sparse)), {});
      }
  }
  SUBCASE("one cpu team with work: its partial goes straight to the gpu-worker") {
    check_each_layer(messages_per_layer(traced(0.3, 1, PredictorMode::oracle)), {"msg:ffn_work", "msg:ffn_partial"});
    check_each_layer(messages_per_layer(traced(0.0, 1, PredictorMode::oracle, true)), {"msg:ffn_work", "msg:ffn_partial"});
  }
  SUBCASE("two cpu teams: both partials through merge, one FfnOutput") {
    check_each_layer(messages_per_layer(traced(0.3, 2, PredictorMode::oracle)),
                     {"msg:ffn_work", "msg:ffn_work", "msg:ffn_partial", "msg:ffn_partial", "msg:ffn_output"});
  }
  SUBCASE("a predictor actor (threshold) adds its request and reply") {
    check_each_layer(messages_per_layer(traced(1.0, 1, PredictorMode::threshold)), {"msg:ffn_input", "msg:ffn_prediction"});
  }
}

TEST_CASE("actor protocol: the gpu-worker drops and counts messages of another step, and still computes the right logits") {
  auto w = ModelWeights::load(testing::small_relu_model("protocol_tiny", GgmlType::F32, 11));
  const ModelConfig& c = w->config();
  const int block = static_cast<int>(traits(w->layers()[0].down.type).block_elems);
  auto split = std::make_shared<const NeuronSplit>(split_by_fraction(c.n_layers, c.d_ff, 1.0, 0, block));
  BackendOptions bo;
  bo.engine = {1, 64, 4, 0, false};
  bo.n_ctx = 64;
  bo.hot_neurons = split->hot_neurons();
  caf::actor_system_config cfg;
  caf::actor_system sys{quiet(cfg)};
  actors::GpuWorkerArgs ga;
  ga.weights = w;
  ga.split = split;
  ga.backend = make_backend(w, bo);
  const GpuWorkerActor gpu = actors::spawn_gpu_worker(sys, std::move(ga));
  caf::anon_send(gpu, Wiring{gpu, {}, {}, {}});
  // Strays: a cold share of no step in flight, of an old step and of a layer never asked for.
  const TensorPtr junk = tensor(0, static_cast<int>(kTokens.size()), c.d_model, 100.0f);
  caf::anon_send(gpu, FfnOutput{0, 0, 0, junk, 0, 0});
  caf::anon_send(gpu, FfnPartial{3, 1, 0, 1, 1, junk, 0, 0});
  std::vector<float> logits;
  uint64_t stray = 0;
  {
    caf::scoped_actor self{sys};
    self->request(gpu, caf::infinite, EvalRequest{1, kTokens, {StepSequence{0, 0, static_cast<int>(kTokens.size())}}, true})
        .receive(
            [&](const LogitsReply& r) {
              logits = r.logits->data;
              stray = r.stray;
            },
            [&](caf::error& e) { FAIL("forward step failed: " << sys.render(e)); });
  }
  caf::anon_send_exit(gpu, caf::exit_reason::user_shutdown);
  CHECK(stray == 2);
  DenseEngine dense(w, {1, 64, 4});
  dense.eval(kTokens, true);
  REQUIRE(logits.size() == kTokens.size() * static_cast<size_t>(c.n_vocab));
  double diff = 0, scale = 0;
  for (size_t p = 0; p < kTokens.size(); ++p) {
    const auto ref = dense.logits(static_cast<int>(p));
    for (size_t v = 0; v < ref.size(); ++v) {
      diff = std::max(diff, static_cast<double>(std::abs(logits[p * ref.size() + v] - ref[v])));
      scale = std::max(scale, static_cast<double>(std::abs(ref[v])));
    }
  }
  CHECK(diff / scale < 1e-5);
}
