// Perplexity against the independent numpy reference (tests/reference/
// perplexity_ref.py over llama_ref.py's forward pass): the dense engine and the
// actor runtime on the generated F32 ReLU model, without and with BOS, agree
// with numpy to a relative 1e-4. The ctest fixtures write the reference files.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "actors/actor_runtime.h"
#include "engine/layer_ops.h"
#include "engine/neuron_bundles.h"
#include "engine/dense_engine.h"
#include "engine/perplexity.h"
#include "reference_perplexity.h"
#include "tests/test_data.h"

using namespace actinfer;

namespace {

using testing::ReferencePerplexity;
ReferencePerplexity read_reference(const std::string& path) { return testing::read_reference_perplexity(path); }

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
  auto weights = ModelWeights::load(testing::test_data_path("tiny_relu_f32.gguf"));
  for (const char* file : {"tiny_relu_f32_ppl.ref", "tiny_relu_f32_ppl_bos.ref"}) {
    const ReferencePerplexity ref = read_reference(testing::test_data_path(file));
    INFO(file << ": " << ref.tokens.size() << " tokens, ctx " << ref.ctx << ", numpy PPL " << ref.ppl);
    REQUIRE(ref.tokens.size() % static_cast<size_t>(ref.ctx) != 0);  // a remainder that must not be scored
    for (int batch : {5, 64}) {
      DenseEngine dense(weights, {2, 64, batch});
      check_against(dense, ref);
    }
    DeploymentConfig o;
    o.engine = {1, 64, 8};
    o.hot_fraction = 0.5;
    o.teams.assign(2, TeamConfig{0, {}, 1});
    ActorRuntime actors(weights, o);
    check_against(actors, ref);
  }
}

TEST_CASE("perplexity = numpy reference: sparse kernels with the oracle predictor (ReLU zeros skipped, exact)") {
  auto weights = ModelWeights::load(testing::test_data_path("tiny_relu_f32.gguf"));
  const ReferencePerplexity ref = read_reference(testing::test_data_path("tiny_relu_f32_ppl.ref"));
  DeploymentConfig o;
  o.engine = {1, 64, 8};
  o.hot_fraction = 0.3;
  o.teams.assign(2, TeamConfig{0, {}, 1});
  o.sparse = true;
  o.predictor = PredictorMode::oracle;
  ActorRuntime sparse(weights, o);
  check_against(sparse, ref);
  // Really sparse: the oracle hands every neuron to the kernels, which read every gate
  // row but up and down only of the ~10% that fire.
  const auto stats = sparse.predictor_stats();
  const NeuronBundles bundles(FfnWeights::of_layer(*weights, 0));
  const double per_neuron = static_cast<double>(bundles.gate_up_row_bytes()) +
                            0.3 * static_cast<double>(bundles.used_record_bytes() - bundles.gate_up_row_bytes());
  const double bound = static_cast<double>(stats.token_layers) * weights->config().d_ff * per_neuron;
  INFO("FFN weight bytes read " << stats.ffn_weight_bytes << ", bound " << bound);
  CHECK(stats.ffn_weight_bytes > 0);
  CHECK(static_cast<double>(stats.ffn_weight_bytes) < bound);
}
