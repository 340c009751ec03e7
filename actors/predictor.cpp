#include "actors/predictor.h"

#include <cmath>
#include <stdexcept>

#include "actors/actor_common.h"
#include "actors/ffn_fanout.h"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "engine/layer_ops.h"
#include "protocol/wiring.h"

namespace actinfer::actors {
namespace {

using namespace protocol;

struct PredictorState {
  PredictorArgs args;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Workspace> ws;
  std::vector<float> act;            // [B][d_ff] gate activations
  std::vector<int32_t> truth;        // one token's true set
  PredictorScratch scratch;
  PredictorStats stats;
  std::shared_ptr<trace::TraceBuffer> trace;
  static inline const char* name = "predictor";
};

using PredictorSelf = PredictorActor::stateful_pointer<PredictorState>;

bool relu(const PredictorArgs& a) { return a.weights->config().activation == actinfer::Activation::ReLU; }

// Neurons of one token's activity a[n] (ffn_neuron_activity) that fire: ReLU a > 0,
// else |a| > threshold.
void firing(const float* a, int n, bool is_relu, float threshold, std::vector<int32_t>& out) {
  out.clear();
  for (int i = 0; i < n; ++i)
    if (is_relu ? a[i] > 0.0f : std::fabs(a[i]) > threshold) out.push_back(i);
}

int64_t count_common(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  int64_t n = 0;
  for (size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    if (a[i] < b[j]) ++i;
    else if (b[j] < a[i]) ++j;
    else { ++n; ++i; ++j; }
  }
  return n;
}

// Each token's predicted list (and the truth where it is checked), into `active`.
void predict(PredictorState& s, const FfnInput& in, ActiveSet& active) {
  const PredictorArgs& a = s.args;
  const int n = a.weights->config().d_ff, B = in.xn->n_tokens, layer = in.layer;
  const bool exact_zeros = relu(a);
  const bool activity_needed = a.mode == PredictorMode::threshold || a.check_truth;
  if (activity_needed) {
    s.act.resize(static_cast<size_t>(B) * n);
    ffn_neuron_activity(*s.pool, *s.ws, *a.weights, layer, in.xn->data.data(), B, s.act.data());
  }
  const float threshold = a.thresholds.empty() ? 0.0f : a.thresholds[static_cast<size_t>(layer)];
  active.per_token.resize(static_cast<size_t>(B));
  for (int t = 0; t < B; ++t) {
    std::vector<int32_t>& list = active.per_token[static_cast<size_t>(t)];
    const float* at = s.act.data() + static_cast<size_t>(t) * n;
    if (a.mode == PredictorMode::trained) {
      a.predictors->predict(*s.pool, layer, in.xn->row(t), list, s.scratch);
      if (a.check_truth) {
        firing(at, n, exact_zeros, threshold, s.truth);
        s.stats.truth_checked += 1;
        s.stats.truly_active += static_cast<int64_t>(s.truth.size());
        s.stats.hits += count_common(list, s.truth);
      }
    } else {
      firing(at, n, exact_zeros, threshold, list);
    }
    s.stats.predicted += static_cast<int64_t>(list.size());
  }
  s.stats.token_layers += B;
  s.stats.neurons += int64_t{B} * n;
  finish_active_set(active, n, sparse_step(a.sparse, B, a.sparse_dense_crossover));
}

}  // namespace

void check_predictor_args(const PredictorArgs& a) {
  if (a.mode != PredictorMode::threshold && a.mode != PredictorMode::trained)
    throw std::invalid_argument("the predictor actor predicts threshold or trained, not '" + std::string(to_string(a.mode)) + "'");
  const ModelConfig& c = a.weights->config();
  const bool thresholds_needed = a.mode == PredictorMode::threshold || (a.mode == PredictorMode::trained && a.check_truth);
  if (thresholds_needed && c.activation != actinfer::Activation::ReLU && static_cast<int>(a.thresholds.size()) != c.n_layers)
    throw std::invalid_argument("predictor '" + std::string(to_string(a.mode)) + "' needs per-layer thresholds for this " + std::string(activation_name(c.activation)) +
                                " model: give a profile (actinfer profile --sparsity ...)");
  if (a.mode == PredictorMode::trained && !a.predictors)
    throw std::invalid_argument("predictor 'trained' needs a predictor file (actinfer train-predictor)");
}

namespace {

PredictorActor::behavior_type predictor(PredictorSelf self, PredictorArgs args) {
  auto& s = self->state;
  s.pool = std::make_unique<ThreadPool>(std::max(1, args.threads));
  s.ws = std::make_unique<Workspace>(args.weights->config(), args.max_batch, args.exact_activations);
  s.ws->set_batch_invariant(args.batch_invariant);
  s.trace = std::make_shared<trace::TraceBuffer>("predictor", "predictor", args.trace);
  if (args.predictors) s.stats.predictor_bytes = args.predictors->bytes();
  s.args = std::move(args);
  return {
      [self](const FfnInput& in) {
        auto& s = self->state;
        trace_message(*s.trace, "msg:ffn_input", in.layer, in.token, in.sent_ns, tensor_bytes(in.xn));
        auto active = std::make_shared<ActiveSet>();
        {
          const int64_t t0 = trace::now_ns();
          auto scope = s.trace->scope("predict", in.layer, in.token);
          predict(s, in, *active);
          s.stats.predict_ns += trace::now_ns() - t0;
        }
        return FfnPrediction{in.step, in.layer, in.token, std::move(active), trace::now_ns()};
      },
      [self](const CollectStats& c) {
        PredictorStats out = self->state.stats;
        if (c.reset) {
          self->state.stats = PredictorStats{};
          self->state.stats.predictor_bytes = out.predictor_bytes;
        }
        return out;
      },
      [self](const CollectTrace&) { return handoff(*self->state.trace); },
  };
}

}  // namespace

PredictorActor spawn_predictor(caf::actor_system& sys, PredictorArgs args) {
  check_predictor_args(args);
  return sys.spawn(predictor, std::move(args));
}

}  // namespace actinfer::actors
