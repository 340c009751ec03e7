// The server's core without HTTP: the batched dense engine and the actor runtime (as a
// BatchEvaluator) against the dense
// engine one sequence at a time, and the slot scheduler's continuous batching
// (greedy text alone = beside seven others = the plain token loop), stop strings,
// cancellation and a full queue.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <map>
#include <unistd.h>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "actors/actor_runtime.h"
#include "engine/batched_dense_engine.h"
#include "engine/dense_engine.h"
#include "engine/generator.h"
#include "model/tokenizer.h"
#include "server/slot_scheduler.h"
#include "server/stop_strings.h"
#include "model/synthetic_model.h"
#include "tests/skip_report.h"
#include "tests/test_data.h"
#include "trace/chrome_trace.h"

using namespace actinfer;
using namespace actinfer::server;

namespace {

const std::string kDefaultModel = ACTINFER_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

// The same checks on a tiny synthetic model (with its own byte-level BPE vocabulary): seconds
// under the sanitizers, where CI leaves the SmolLM2 cases out (tools/checked_builds.sh).
std::string tiny_model() {
  const auto path = testing::test_data_path("serve_scheduler_tiny.gguf");
  if (!std::filesystem::exists(path)) {
    SyntheticModelConfig cfg;
    cfg.n_layers = 2;
    cfg.dim = 128;
    cfg.ffn = 256;
    cfg.n_heads = 4;
    cfg.n_kv_heads = 2;
    cfg.activation = "silu";
    cfg.type = GgmlType::Q4_0;
    cfg.output_type = GgmlType::Q8_0;
    cfg.seed = 11;
    write_synthetic_model(cfg, path);  // whole or not at all (a renamed temporary): cases at once may race
  }
  return path.string();
}

// Runs `body` on the default model, or reports the case skipped when the file is absent.
void with_default_model(const std::function<void(const std::string&)>& body) {
  if (!std::filesystem::exists(kDefaultModel)) {
    ACTINFER_REPORT_SKIPPED("default model absent (run ./setup.sh): skipped");
    return;
  }
  body(kDefaultModel);
}

struct Result {
  std::string text, finish_reason, error;
  int n_prompt = 0, n_generated = 0;
};

Result collect(RequestStream& s) {
  Result r;
  for (;;) {
    auto e = s.pop(std::chrono::milliseconds(100));
    if (!e) continue;
    r.text += e->text;
    if (e->final) {
      r.finish_reason = e->finish_reason;
      r.error = e->error;
      r.n_prompt = e->n_prompt;
      r.n_generated = e->n_generated;
      return r;
    }
  }
}

CompletionRequest greedy(std::vector<int32_t> prompt, int n) {
  CompletionRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = n;
  r.sampling.temperature = 0.0f;
  return r;
}

const std::vector<std::string> kPrompts = {
    "The capital of France is", "Once upon a time", "def fibonacci(n):", "The three primary colours are",
    "Water boils at", "My favourite book is", "In 1969, the first", "The quick brown fox"};


// Three sequences through `batched` in mixed steps (a prompt beside decoding tokens), then
// each sequence's last logits against a fresh single-sequence evaluator fed the same tokens
// alone, in the same chunks: not one bit may differ.
void check_each_sequence_as_alone(BatchEvaluator& batched, const Tokenizer& tok, const std::function<std::unique_ptr<Evaluator>()>& alone) {
  std::vector<std::vector<int32_t>> seqs;
  for (int i = 0; i < 3; ++i) seqs.push_back(tok.encode(kPrompts[static_cast<size_t>(i)], true, false));
  // Step 1: sequence 0's prompt alone. Step 2: sequences 1 and 2's prompts plus 0's next token.
  // Steps 3-5: one token each.
  std::vector<std::vector<float>> last(3);
  std::vector<SequenceChunk> step1 = {{0, seqs[0]}};
  batched.eval(step1);
  last[0].assign(batched.logits(0).begin(), batched.logits(0).end());
  auto argmax = [](const std::vector<float>& l) { return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin()); };
  std::vector<std::vector<int32_t>> fed = seqs;
  for (int step = 0; step < 4; ++step) {
    std::vector<std::vector<int32_t>> next(3);
    std::vector<SequenceChunk> chunks;
    next[0] = {argmax(last[0])};
    fed[0].push_back(next[0][0]);
    chunks.push_back({0, next[0]});
    for (int i = 1; i < 3; ++i) {
      if (step == 0) {
        chunks.push_back({i, seqs[static_cast<size_t>(i)]});
      } else {
        next[static_cast<size_t>(i)] = {argmax(last[static_cast<size_t>(i)])};
        fed[static_cast<size_t>(i)].push_back(next[static_cast<size_t>(i)][0]);
        chunks.push_back({i, next[static_cast<size_t>(i)]});
      }
    }
    batched.eval(chunks);
    for (int i = 0; i < 3; ++i) last[static_cast<size_t>(i)].assign(batched.logits(i).begin(), batched.logits(i).end());
  }
  // The same tokens through the dense engine, one sequence at a time and in the same chunks.
  for (int i = 0; i < 3; ++i) {
    const std::unique_ptr<Evaluator> single = alone();
    const auto& f = fed[static_cast<size_t>(i)];
    const size_t n_prompt = seqs[static_cast<size_t>(i)].size();
    single->eval(std::span<const int32_t>(f).first(n_prompt), false);
    for (size_t t = n_prompt; t < f.size(); ++t) single->eval(std::span<const int32_t>(f).subspan(t, 1), false);
    const auto ref = single->logits();
    CHECK(batched.n_past(i) == static_cast<int>(f.size()));
    float max_diff = 0;
    for (size_t v = 0; v < ref.size(); ++v) max_diff = std::max(max_diff, std::abs(ref[v] - last[static_cast<size_t>(i)][v]));
    INFO("sequence " << i);
    CHECK(max_diff == 0.0f);  // row by row: batching does not change a single bit
  }
}

// What every BatchEvaluator refuses, by name.
void check_bad_steps(BatchEvaluator& batched) {
  std::vector<int32_t> one = {1};
  std::vector<SequenceChunk> dup = {{0, one}, {0, one}};
  CHECK_THROWS_WITH(batched.eval(dup), doctest::Contains("slot 0 appears twice"));
  std::vector<SequenceChunk> bad_slot = {{5, one}};
  CHECK_THROWS_WITH(batched.eval(bad_slot), doctest::Contains("slot 5 outside 0..2"));
  std::vector<int32_t> many(40, 1);
  std::vector<SequenceChunk> big = {{1, many}};
  CHECK_THROWS_WITH(batched.eval(big), doctest::Contains("at most 32"));
}

// The plain token loop (what `actinfer run --runtime dense` does), greedy, for each prompt.
std::vector<std::string> plain_loop_texts(const std::shared_ptr<const ModelWeights>& weights, const Tokenizer& tok, const EngineOptions& eo, int n) {
  std::vector<std::string> texts;
  for (const std::string& p : kPrompts) {
    DenseEngine dense(weights, eo);
    Sampler s({.temperature = 0.0f});
    std::vector<int32_t> out;
    GenerationCallbacks cb;
    cb.is_end_of_generation = [&](int32_t t) { return tok.is_end_of_generation(t); };
    generate(dense, s, tok.encode(p, true, false), n, cb, &out);
    std::erase_if(out, [&](int32_t t) { return tok.is_end_of_generation(t); });
    Utf8StreamDecoder utf8;  // what a stream sends: invalid bytes (random models) as U+FFFD
    std::string text = utf8.push(tok.decode(out));
    text += utf8.flush();
    texts.push_back(text);
  }
  return texts;
}

}  // namespace

static void check_batched_dense_engine(const std::string& model) {
  auto weights = ModelWeights::load(model);
  const Tokenizer tok(tokenizer_data_from_gguf(weights->file()));
  EngineOptions eo{2, 128, 32};
  eo.batch_invariant = true;  // the dense reference with the server's arithmetic (no tiled GEMM)
  BatchedDenseEngine batched(weights, eo, 3);
  check_each_sequence_as_alone(batched, tok, [&] { return std::make_unique<DenseEngine>(weights, eo); });
  check_bad_steps(batched);
}
TEST_CASE("batched dense engine: each sequence's logits equal the dense engine's, whatever else is in the step (tiny synthetic model)") { check_batched_dense_engine(tiny_model()); }
TEST_CASE("batched dense engine: each sequence's logits equal the dense engine's, whatever else is in the step (SmolLM2)") { with_default_model(check_batched_dense_engine); }

static void check_actor_runtime_batches(const std::string& model) {
  auto weights = ModelWeights::load(model);
  const Tokenizer tok(tokenizer_data_from_gguf(weights->file()));
  EngineOptions eo{2, 128, 32};
  eo.batch_invariant = true;
  for (double hot : {1.0, 0.5}) {  // 0.5: a cpu-worker team computes the cold half of every layer
    CAPTURE(hot);
    DeploymentConfig o;
    o.engine = eo;
    o.batch = 3;
    o.hot_fraction = hot;
    o.teams.assign(1, TeamConfig{0, {}, 1});
    ActorRuntime rt(weights, o);
    REQUIRE(rt.n_slots() == 3);
    // The whole layer on the gpu-worker computes what the dense engine does; a split layer
    // sums the hot and cold shares apart (other rounding): there the same runtime, one slot.
    if (hot == 1.0)
      check_each_sequence_as_alone(rt, tok, [&] { return std::make_unique<DenseEngine>(weights, eo); });
    else
      check_each_sequence_as_alone(rt, tok, [&] {
        DeploymentConfig one = o;
        one.batch = 1;
        return std::make_unique<ActorRuntime>(weights, one);
      });
    check_bad_steps(rt);
    // The single-sequence side of the same runtime is slot 0, apart from the others.
    CHECK(rt.n_past() == rt.n_past(0));
    rt.rewind(1, 0);
    CHECK(rt.n_past(1) == 0);
    CHECK(rt.n_past(0) > 0);
  }
}
TEST_CASE("actor runtime as a batch evaluator: each sequence's logits equal its own alone, bit for bit (tiny synthetic model)") { check_actor_runtime_batches(tiny_model()); }
TEST_CASE("actor runtime as a batch evaluator: each sequence's logits equal its own alone, bit for bit (SmolLM2)") { with_default_model(check_actor_runtime_batches); }


TEST_CASE("stop strings: text before the stop is sent, a possible start is held back") {
  StopStrings s({"</end>", "\n\n"});
  CHECK(s.push("Hello <") == "Hello ");  // "<" may start "</end>"
  CHECK(s.push("/e") == "");
  CHECK(s.push("x") == "</ex");          // not a stop after all
  CHECK(s.push(" world\n") == " world");
  CHECK(s.push("\nmore") == "");
  CHECK(s.stopped());
  CHECK(s.push("ignored") == "");
  StopStrings t({"END"});
  CHECK(t.push("abcE") == "abc");
  CHECK(t.flush() == "E");  // generation ended without the stop: the held text is sent
  StopStrings none({""});   // empty stop strings are ignored
  CHECK(none.push("x") == "x");
}

static void check_slot_scheduler(const std::string& model) {
  auto weights = ModelWeights::load(model);
  const Tokenizer tok(tokenizer_data_from_gguf(weights->file()));
  EngineOptions eo{2, 128, 32};
  eo.batch_invariant = true;  // the dense reference with the server's arithmetic (no tiled GEMM)
  const int n = 12;

  const std::vector<std::string> expected = plain_loop_texts(weights, tok, eo, n);

  BatchedDenseEngine engine(weights, eo, 8);
  {
    SlotScheduler alone(engine, tok, {});
    for (size_t i = 0; i < 2; ++i) {
      auto s = alone.submit(greedy(tok.encode(kPrompts[i], true, false), n));
      REQUIRE(s);
      const Result r = collect(*s);
      CHECK(r.error.empty());
      CHECK(r.text == expected[i]);
    }
  }
  SlotScheduler sched(engine, tok, {.max_queue = 4, .prefill_chunk = 8});  // prompts in chunks of 8 beside decoding sequences
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const std::string& p : kPrompts) streams.push_back(sched.submit(greedy(tok.encode(p, true, false), n)));
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    REQUIRE(streams[i]);
    const Result r = collect(*streams[i]);
    INFO("prompt " << kPrompts[i]);
    CHECK(r.error.empty());
    CHECK(r.text == expected[i]);
    CHECK(r.n_prompt == static_cast<int>(tok.encode(kPrompts[i], true, false).size()));
    CHECK((r.finish_reason == "length" || r.finish_reason == "stop"));
  }
  const SchedulerStats st = sched.stats();
  CHECK(st.requests_ok == kPrompts.size());
  CHECK(st.active_sequences == 0);

  SUBCASE("a stop string ends the text before it") {
    const std::string full = expected[0];  // " Paris. ..." or similar
    REQUIRE(full.size() > 4);
    CompletionRequest r = greedy(tok.encode(kPrompts[0], true, false), n);
    r.stop = {full.substr(3, 2)};
    auto s = sched.submit(r);
    const Result res = collect(*s);
    CHECK(res.finish_reason == "stop");
    CHECK(res.text == full.substr(0, full.find(r.stop[0])));
  }
  SUBCASE("a cancelled request frees its slot at the next step") {
    auto s = sched.submit(greedy(tok.encode(kPrompts[1], true, false), 100));
    s->cancel();
    const Result res = collect(*s);
    CHECK(res.error == "cancelled by the client");
    CHECK(res.n_generated < 100);
    CHECK(sched.stats().requests_cancelled == 1);
  }
  SUBCASE("a full queue refuses; a prompt over the context is refused with the numbers") {
    std::vector<std::shared_ptr<RequestStream>> held;
    int refused = 0;
    for (int i = 0; i < 20; ++i) {
      auto s = sched.submit(greedy(tok.encode(kPrompts[2], true, false), 60));
      if (s) held.push_back(s);
      else ++refused;
    }
    CHECK(refused > 0);
    CHECK(held.size() <= 8 + 4);
    for (auto& s : held) s->cancel();
    for (auto& s : held) collect(*s);
    std::vector<int32_t> long_prompt(200, 504);
    CHECK_THROWS_WITH(sched.submit(greedy(long_prompt, 1)), doctest::Contains("the prompt has 200 tokens; a slot's context holds 128"));
  }
}
TEST_CASE("slot scheduler: a greedy request gives the same text alone, beside seven others, and as the plain token loop (tiny synthetic model)") { check_slot_scheduler(tiny_model()); }
TEST_CASE("slot scheduler: a greedy request gives the same text alone, beside seven others, and as the plain token loop (SmolLM2)") { with_default_model(check_slot_scheduler); }

// A stop string's possible start is held back, and so is an incomplete UTF-8 character; at the
// end both come out, in order. The tiny model's greedy text for "In 1969, the first" ends with
// such a character (a lone 0xF4 byte, sent as U+FFFD when the request ends).
TEST_CASE("slot scheduler: text held back for a possible stop comes out whole and in order at the end (tiny synthetic model)") {
  auto weights = ModelWeights::load(tiny_model());
  const Tokenizer tok(tokenizer_data_from_gguf(weights->file()));
  EngineOptions eo{2, 128, 32};
  eo.batch_invariant = true;
  const int n = 12;
  const std::string full = plain_loop_texts(weights, tok, eo, n)[6];
  const std::string replacement = "\xEF\xBF\xBD";
  REQUIRE(full.size() > 9);
  REQUIRE(full.ends_with(replacement));
  BatchedDenseEngine engine(weights, eo, 2);
  SlotScheduler sched(engine, tok, {});
  CompletionRequest r = greedy(tok.encode(kPrompts[6], true, false), n);
  r.stop = {full.substr(full.size() - 9, 6) + "q"};  // its start matches the text's tail; never whole
  const Result res = collect(*sched.submit(r));
  CHECK(res.error.empty());
  CHECK(res.finish_reason == "length");
  CHECK(res.text == full);
}

static void check_slot_scheduler_actors(const std::string& model) {
  auto weights = ModelWeights::load(model);
  const Tokenizer tok(tokenizer_data_from_gguf(weights->file()));
  EngineOptions eo{2, 128, 32};
  eo.batch_invariant = true;
  const int n = 12;
  const std::vector<std::string> expected = plain_loop_texts(weights, tok, eo, n);
  DeploymentConfig o;
  o.engine = eo;
  o.batch = 8;
  ActorRuntime rt(weights, o);
  SlotScheduler sched(rt, tok, {.max_queue = 4, .prefill_chunk = 8});
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const std::string& p : kPrompts) streams.push_back(sched.submit(greedy(tok.encode(p, true, false), n)));
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    REQUIRE(streams[i]);
    const Result r = collect(*streams[i]);
    INFO("prompt " << kPrompts[i]);
    CHECK(r.error.empty());
    CHECK(r.text == expected[i]);
  }
  CHECK(sched.stats().requests_ok == kPrompts.size());
}
TEST_CASE("slot scheduler on the actor runtime: eight greedy requests at once give the plain token loop's texts (tiny synthetic model)") { check_slot_scheduler_actors(tiny_model()); }
TEST_CASE("slot scheduler on the actor runtime: eight greedy requests at once give the plain token loop's texts (SmolLM2)") { with_default_model(check_slot_scheduler_actors); }

static void check_slot_trace(const std::string& model) {
  auto weights = ModelWeights::load(model);
  DeploymentConfig o;
  o.engine = EngineOptions{2, 64, 16};
  o.batch = 3;
  o.trace = (std::filesystem::temp_directory_path() / ("actinfer_slots_trace_" + std::to_string(::getpid()) + ".json")).string();
  ActorRuntime rt(weights, o);
  const std::vector<int32_t> prompt = {1, 104, 307, 282}, next = {45};
  std::vector<SequenceChunk> step1 = {{2, prompt}};
  rt.eval(step1);
  std::vector<SequenceChunk> step2 = {{2, next}, {0, prompt}};
  rt.eval(step2);
  rt.write_trace(o.trace);
  const std::vector<trace::TraceBuffer> back = trace::read_chrome_trace(o.trace);
  std::filesystem::remove(o.trace);
  std::map<std::string, std::vector<trace::Span>> by_actor;
  for (const trace::TraceBuffer& b : back) by_actor[b.actor()] = b.spans();
  CHECK_FALSE(by_actor.contains("slot 1"));  // no step carried slot 1
  REQUIRE(by_actor.contains("slot 0"));
  REQUIRE(by_actor.contains("slot 2"));
  const auto& s2 = by_actor["slot 2"];
  REQUIRE(s2.size() == 2);
  CHECK(s2[0].name == "prompt");
  CHECK(s2[0].token == 0);
  CHECK(s2[1].name == "decode");
  CHECK(s2[1].token == 4);
  const auto& s0 = by_actor["slot 0"];
  REQUIRE(s0.size() == 1);
  CHECK(s0[0].name == "prompt");
  // The second step's spans of both slots cover the same forward step.
  CHECK(s0[0].start_ns == s2[1].start_ns);
}
TEST_CASE("actor runtime trace: one track per slot with the steps of its sequence (tiny synthetic model)") { check_slot_trace(tiny_model()); }
TEST_CASE("actor runtime trace: one track per slot with the steps of its sequence (SmolLM2)") { with_default_model(check_slot_trace); }
