// Perplexity against the independent numpy reference (tests/reference/
// perplexity_ref.py over llama_ref.py's forward pass): the dense engine and the
// actor runtime on the generated F32 ReLU model, without and with BOS, agree
// with numpy to a relative 1e-4. The ctest fixtures write the reference files.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "actors/actor_runtime.h"
#include "engine/dense_engine.h"
#include "engine/perplexity.h"

using namespace actinfer;

namespace {

struct ReferencePerplexity {
  int ctx = 0;
  int32_t bos = -1;
  std::vector<int32_t> tokens;
  double ppl = 0;
  int64_t n_scored = 0;
  std::vector<double> chunk_ppl;
};

ReferencePerplexity read_reference(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path + " (the fixture_reference_perplexity_* ctest fixtures write it)");
  ReferencePerplexity r;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string key;
    s >> key;
    if (key == "ctx") s >> r.ctx;
    else if (key == "bos") s >> r.bos;
    else if (key == "ppl") s >> r.ppl;
    else if (key == "n_scored") s >> r.n_scored;
    else if (key == "tokens") for (int32_t t; s >> t;) r.tokens.push_back(t);
    else if (key == "chunk_ppl") for (double p; s >> p;) r.chunk_ppl.push_back(p);
  }
  if (r.ctx <= 0 || r.tokens.empty() || !(r.ppl > 0)) throw std::runtime_error(path + ": incomplete reference perplexity file");
  return r;
}

std::string data(const std::string& name) { return std::string(ACTINFER_TEST_DATA_DIR) + "/" + name; }

void check_against(Evaluator& ev, const ReferencePerplexity& ref) {
  const PerplexityResult r = perplexity(ev, ref.tokens, ref.ctx, ref.bos >= 0, ref.bos);
  INFO("ours " << r.ppl << " numpy " << ref.ppl);
  CHECK(r.n_scored == ref.n_scored);
  CHECK(std::abs(r.ppl / ref.ppl - 1) < 1e-4);
  REQUIRE(r.chunk_ppl.size() == ref.chunk_ppl.size());
  for (size_t c = 0; c < r.chunk_ppl.size(); ++c) CHECK(std::abs(r.chunk_ppl[c] / ref.chunk_ppl[c] - 1) < 1e-4);
}

}  // namespace

TEST_CASE("perplexity = numpy reference: generated ReLU model, F32, dense and actors, with and without BOS") {
  auto weights = ModelWeights::load(data("tiny_relu_f32.gguf"));
  for (const char* file : {"tiny_relu_f32_ppl.ref", "tiny_relu_f32_ppl_bos.ref"}) {
    const ReferencePerplexity ref = read_reference(data(file));
    INFO(file << ": " << ref.tokens.size() << " tokens, ctx " << ref.ctx << ", numpy PPL " << ref.ppl);
    REQUIRE(ref.tokens.size() % static_cast<size_t>(ref.ctx) != 0);  // a remainder that must not be scored
    for (int batch : {5, 64}) {
      DenseEngine dense(weights, {2, 64, batch});
      check_against(dense, ref);
    }
    ActorRuntimeOptions o;
    o.engine = {1, 64, 8};
    o.hot_fraction = 0.5;
    o.teams.assign(2, TeamOptions{0, {}, 1});
    ActorRuntime actors(weights, o);
    check_against(actors, ref);
  }
}

TEST_CASE("perplexity = numpy reference: sparse kernels with the oracle predictor (ReLU zeros skipped, exact)") {
  auto weights = ModelWeights::load(data("tiny_relu_f32.gguf"));
  const ReferencePerplexity ref = read_reference(data("tiny_relu_f32_ppl.ref"));
  ActorRuntimeOptions o;
  o.engine = {1, 64, 8};
  o.hot_fraction = 0.3;
  o.teams.assign(2, TeamOptions{0, {}, 1});
  o.sparse = true;
  o.predictor = "oracle";
  ActorRuntime sparse(weights, o);
  check_against(sparse, ref);
  const auto stats = sparse.predictor_stats();
  INFO("fraction of neurons computed " << stats.fraction_computed());
  CHECK(stats.fraction_computed() < 0.3);  // really sparse: ~10% of the neurons fire
}
