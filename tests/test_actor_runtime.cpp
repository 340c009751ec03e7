// The actor runtime reproduces the dense engine: with the oracle predictor on a
// ReLU model, for several hot/cold splits and 1 to 3 CPU-worker teams.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "actors/actor_runtime.h"
#include "backends/backend.h"
#include "backends/cuda_backend.h"
#include "engine/dense_engine.h"
#include "engine/generator.h"
#include "model/placement.h"
#include "model/synthetic_model.h"
#include "tests/proc_threads.h"
#include "tests/runtime_comparison.h"
#include "tests/skip_report.h"

using namespace actinfer;

namespace {

std::filesystem::path tiny_model(const std::string& type_name, GgmlType type) {
  return testing::small_relu_model("actors_tiny_" + type_name, type, 5);
}

const std::vector<int32_t> kRuntimeTokens = {3, 77, 120, 5, 9, 250, 31, 64, 2, 199};

double relative_difference(Evaluator& a, Evaluator& b) { return testing::relative_difference(a, b, kRuntimeTokens); }

DeploymentConfig options(double hot, int teams, bool exact, PredictorMode predictor = PredictorMode::oracle) {
  DeploymentConfig o;
  o.engine = {1, 256, 4, 0, exact};
  o.hot_fraction = hot;
  o.teams.assign(static_cast<size_t>(teams), TeamConfig{0, {}, 1});
  o.predictor = predictor;
  return o;
}

}  // namespace

TEST_CASE("actor runtime = dense engine: oracle, splits 0/30/100% hot, 1-3 teams") {
  auto w = ModelWeights::load(tiny_model("f32", GgmlType::F32));
  for (double hot : {0.0, 0.3, 1.0}) {
    for (int teams : {1, 2, 3}) {
      DenseEngine dense(w, {1, 256, 4});
      ActorRuntime actors(w, options(hot, teams, false));
      const double rel = relative_difference(actors, dense);
      INFO("hot " << hot << " teams " << teams << ": max relative difference " << rel);
      CHECK(rel < 1e-5);  // float summation order only
    }
  }
}

TEST_CASE("actor runtime = dense engine: quantized weights, exact and fast activations") {
  auto w = ModelWeights::load(tiny_model("q4_0", GgmlType::Q4_0));
  for (bool exact : {true, false}) {
    DenseEngine dense(w, {1, 256, 4, 0, exact});
    ActorRuntime actors(w, options(0.3, 2, exact));
    const double rel = relative_difference(actors, dense);
    INFO("exact " << exact << ": max relative difference " << rel);
    // Exact: float order only. Fast: shards quantize their own blocks of the hidden state
    // exactly as the dense engine does (block-aligned splits), so only float order again.
    CHECK(rel < 1e-4);
  }
}

TEST_CASE("actor runtime: predictor 'all' and the token loop agree with the dense engine") {
  auto w = ModelWeights::load(tiny_model("f32", GgmlType::F32));
  DenseEngine dense(w, {1, 256, 4});
  ActorRuntime actors(w, options(0.5, 2, false, PredictorMode::all));
  Sampler g1({.temperature = 0.0f}), g2({.temperature = 0.0f});
  std::vector<int32_t> a, b;
  generate(dense, g1, kRuntimeTokens, 20, {}, &a);
  generate(actors, g2, kRuntimeTokens, 20, {}, &b);
  CHECK(a == b);
  CHECK(actors.n_past() == dense.n_past());
  actors.rewind(3);
  CHECK(actors.n_past() == 3);
}

TEST_CASE("actor runtime: bad layouts are refused by name") {
  auto w = ModelWeights::load(tiny_model("f32", GgmlType::F32));
  auto o = options(0.5, 1, false);
  o.teams[0].numa_node = 4;
  CHECK_THROWS_WITH(ActorRuntime(w, o), doctest::Contains("NUMA node 4 does not exist"));
  o = options(0.5, 0, false);
  CHECK_THROWS_WITH(ActorRuntime(w, o), doctest::Contains("no CPU-worker team"));
  o = options(1.5, 1, false);
  CHECK_THROWS_WITH(ActorRuntime(w, o), doctest::Contains("hot fraction must be in [0, 1]"));
}

TEST_CASE("actor runtime: two teams on a synthetic two-socket topology, traced") {
  auto w = ModelWeights::load(tiny_model("f32", GgmlType::F32));
  auto o = options(0.3, 2, false);
  o.topology = "synthetic:pack:2 numa:1 core:4 pu:1";
  o.teams[1].numa_node = 1;
  o.trace = (std::filesystem::path(ACTINFER_TEST_DATA_DIR) / "actors_trace.json").string();
  DenseEngine dense(w, {1, 256, 4});
  {
    ActorRuntime actors(w, o);
    CHECK(actors.describe().find("NUMA node 1") != std::string::npos);
    CHECK(relative_difference(actors, dense) < 1e-5);
    const auto path = std::filesystem::path(ACTINFER_TEST_DATA_DIR) / "actors_trace.json";
    actors.write_trace(path);
    std::ifstream in(path);
    const auto j = nlohmann::json::parse(in);
    int hot = 0, cold = 0, msgs = 0;
    for (const auto& e : j["traceEvents"]) {
      const std::string name = e.value("name", "");
      hot += name == "ffn_hot";
      cold += name == "ffn_cold";
      msgs += name.rfind("msg:", 0) == 0;
    }
    // 10 tokens in batches of 4: 3 forward steps of 3 layers; every layer has
    // active neurons in the hot part and in both cold shards for these tokens.
    CHECK(hot == 3 * 3);
    CHECK(cold == 3 * 3 * 2);
    CHECK(msgs > 0);
  }
}

TEST_CASE("actor runtime = dense engine: a placement file with scattered hot neurons") {
  auto w = ModelWeights::load(tiny_model("q4_0", GgmlType::Q4_0));
  const ModelConfig& c = w->config();
  Placement p;
  for (int l = 0; l < c.n_layers; ++l) {
    std::vector<uint8_t> flags(static_cast<size_t>(c.d_ff));
    for (int i = 0; i < c.d_ff; ++i) flags[static_cast<size_t>(i)] = (i * 7 + l) % 5 == 0;  // ~20%, scattered
    p.hot.push_back(flags);
  }
  const auto path = std::filesystem::path(ACTINFER_TEST_DATA_DIR) / "actors_placement.gguf";
  write_placement(path, c, p);
  const Placement back = load_placement(path, c);
  CHECK(back.hot == p.hot);
  for (int teams : {1, 2}) {
    auto o = options(0.0, teams, true);
    o.placement = path.string();
    DenseEngine dense(w, {1, 256, 4, 0, true});
    ActorRuntime actors(w, o);
    const double rel = relative_difference(actors, dense);
    INFO("teams " << teams << ": max relative difference " << rel);
    CHECK(rel < 1e-5);
  }
}

TEST_CASE("placement files: wrong model or contents are refused by name") {
  auto w = ModelWeights::load(tiny_model("f32", GgmlType::F32));
  ModelConfig other = w->config();
  other.d_ff = 256;
  Placement p;
  p.hot.assign(static_cast<size_t>(other.n_layers), std::vector<uint8_t>(256, 1));
  const auto path = std::filesystem::path(ACTINFER_TEST_DATA_DIR) / "actors_placement_other.gguf";
  write_placement(path, other, p);
  CHECK_THROWS_WITH(load_placement(path, w->config()), doctest::Contains("is for a model with 3 layers x 256 FFN neurons"));
  CHECK_THROWS_WITH(load_placement(ACTINFER_SOURCE_DIR "/README.md", w->config()), doctest::Contains("not a GGUF file"));
  const auto model_path = tiny_model("f32", GgmlType::F32);
  CHECK_THROWS_WITH(load_placement(model_path, w->config()), doctest::Contains("not a placement file"));
}

TEST_CASE("actor runtime: the backend seam and node-local cold shards") {
  auto w = ModelWeights::load(tiny_model("f32", GgmlType::F32));
  auto o = options(0.5, 1, false);
  o.backend = BackendKind::cuda;
  std::string reason;
  if (!cuda_backend_available(reason))  // with a device it runs: tests/test_cuda_backend.cpp
    CHECK_THROWS_WITH(ActorRuntime(w, o), doctest::Contains("backend 'cuda': no usable CUDA device"));
  // On this machine's real topology the cold shard is bound to node 0.
  ActorRuntime rt(w, options(0.5, 1, false));
  const std::string d = rt.describe();
  CHECK(d.find("gpu-worker (host backend, 1 thread)") != std::string::npos);
  CHECK(d.find("node-local") != std::string::npos);
}

TEST_CASE("actor runtime: the gpu-worker's memory budget is enforced with the numbers") {
  auto w = ModelWeights::load(tiny_model("f32", GgmlType::F32));
  // The tiny F32 model by hand: 3 layers of q,k,v,o = (128*128 + 64*128 * 2 + 128*128) * 4 bytes
  // plus two norms of 128 floats; per FFN neuron a gate and an up row of 128 floats and a
  // 128-float column of down: 3 * 512 bytes; lm_head 300 x 128 floats + its norm;
  // KV cache 2 * 3 layers * 256 positions * 64 floats.
  const uint64_t attention = 3 * ((128 * 128 * 2 + 64 * 128 * 2) * 4 + 2 * 128 * 4);
  const uint64_t per_neuron = 3 * 128 * 4;
  const DeviceFootprint half = device_footprint(*w, {192, 192, 192}, 256, false, KvCacheType::F32);
  CHECK(half.attention == attention);
  CHECK(half.hot_ffn == 3 * 192 * per_neuron);
  CHECK(half.lm_head == 300 * 128 * 4 + 128 * 4);
  CHECK(half.kv_cache == 2 * 3 * 256 * 64 * 4);
  // A budget one byte short of what half the neurons hot needs is refused, naming the parts.
  auto o = options(0.5, 1, false);
  o.engine.cache_type = KvCacheType::F32;  // the numbers above
  o.vram_budget = half.total() - 1;
  // 2,024,960 bytes in all: 592,896 + 884,736 + 154,112 + 393,216.
  CHECK_THROWS_WITH(ActorRuntime(w, o), doctest::Contains("needs 1.9 MiB (attention 0.6 MiB, hot FFN 0.8 MiB, lm_head 0.1 MiB, KV cache 0.4 MiB)"));
  CHECK_THROWS_WITH(ActorRuntime(w, o), doctest::Contains("but the VRAM budget is"));
  o.vram_budget = half.total();
  CHECK_NOTHROW(ActorRuntime(w, o));
}

// A server's slots are filled as requests arrive; their caches are not: each is allocated and
// written when the runtime is made, so memory runs short at start (not in a request's step) and
// no first request waits while its slot's pages fault in.
TEST_CASE("actor runtime: every slot's KV cache is resident once the runtime is made") {
  if (!std::filesystem::exists("/proc/self/statm")) {
    ACTINFER_REPORT_SKIPPED("no /proc/self/statm: resident memory cannot be read here");
    return;
  }
  auto resident = [] {
    std::ifstream f("/proc/self/statm");
    uint64_t size = 0, pages = 0;
    f >> size >> pages;
    return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  };
  // 8 layers: each slot's K and V buffers are 4 MiB (their own mappings, fresh pages).
  auto w = ModelWeights::load(testing::small_relu_model("actors_kv_resident", GgmlType::F32, 5, 8));
  DeploymentConfig o = options(0.0, 1, false);
  o.engine.n_ctx = 2048;
  o.engine.cache_type = KvCacheType::F32;
  o.batch = 4;
  const uint64_t kv = 4 * device_footprint(*w, std::vector<int64_t>(8, 0), 2048, false, KvCacheType::F32).kv_cache;
  CHECK(kv == 4 * 2 * 8 * 2048 * 64 * 4u);  // 32 MiB
  const uint64_t before = resident();
  ActorRuntime rt(w, o);
  CHECK(resident() - before >= kv);
}

// The runtime's own threads carry names (top -H, perf sched, gdb): the host backend's pool
// workers and each cpu-worker team's threads.
TEST_CASE("actor runtime: the compute threads are named by team") {
  if (!std::filesystem::exists("/proc/self/task")) {
    ACTINFER_REPORT_SKIPPED("no /proc/self/task: thread names cannot be listed here");
    return;
  }
  auto names = [] {
    std::vector<std::string> out;
    for (const auto& [name, cores] : testing::threads_and_cores()) out.push_back(name);
    return out;
  };
  auto w = ModelWeights::load(tiny_model("f32", GgmlType::F32));
  DeploymentConfig o = options(0.5, 1, false);
  o.engine.n_threads = 2;
  o.teams.assign(1, TeamConfig{0, {}, 2});
  ActorRuntime rt(w, o);
  auto has = [](const std::vector<std::string>& v, const char* n) { return std::find(v.begin(), v.end(), n) != v.end(); };
  std::vector<std::string> got = names();
  // A thread names itself once it runs: give the last ones a moment.
  for (int i = 0; i < 200 && !(has(got, "gpu-pool-1") && has(got, "cpu1-team-0") && has(got, "cpu1-team-1")); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    got = names();
  }
  INFO("threads: " << [&] { std::string s; for (const auto& n : got) s += n + ", "; return s; }());
  for (const char* want : {"gpu-pool-1", "cpu1-team-0", "cpu1-team-1"}) CHECK(has(got, want));
}
