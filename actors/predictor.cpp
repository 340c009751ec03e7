#include "actors/predictor.h"

#include <stdexcept>

#include "actors/actor_common.h"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "engine/layer_ops.h"
#include "protocol/wiring.h"

namespace actinfer::actors {
namespace {

using namespace protocol;

struct PredictorState {
  PredictorArgs args;
  std::unique_ptr<ThreadPool> pool;  // one thread: the oracle runs inline
  std::unique_ptr<Workspace> ws;
  std::vector<float> act;
  std::shared_ptr<trace::TraceBuffer> trace;
  Wiring wiring;
  static inline const char* name = "predictor";
};

using Self = caf::stateful_actor<PredictorState>;

caf::behavior predictor(Self* self, PredictorArgs args) {
  auto& s = self->state;
  if (args.mode != "oracle" && args.mode != "all")
    throw std::invalid_argument("predictor mode '" + args.mode + "' is not oracle or all");
  s.pool = std::make_unique<ThreadPool>(1);
  s.ws = std::make_unique<Workspace>(args.weights->config(), 1, 1, args.n_ctx, args.exact_activations);
  s.act.resize(static_cast<size_t>(args.weights->config().d_ff));
  s.trace = std::make_shared<trace::TraceBuffer>("predictor", "predictor", args.trace);
  s.args = std::move(args);

  return {
      [self](const Wiring& w) { self->state.wiring = w; },
      [self](const FfnInput& in) {
        auto& s = self->state;
        trace_message(*s.trace, "msg:ffn_input", in.layer, in.token, in.sent_ns, activation_bytes(in.xn));
        auto active = std::make_shared<ActiveSet>();
        active->layer = in.layer;
        const int n = s.args.weights->config().d_ff;
        {
          auto scope = s.trace->scope("predict", in.layer, in.token);
          // Only ReLU gives exact zeros: for other activations every neuron fires.
          if (s.args.mode == "oracle" && s.args.weights->config().activation == actinfer::Activation::ReLU) {
            active->flags.assign(static_cast<size_t>(n), 0);
            for (int t = 0; t < in.xn->n_tokens; ++t) {
              ffn_gate_activations(*s.pool, *s.ws, *s.args.weights, in.layer, in.xn->row(t), s.act.data());
              for (int i = 0; i < n; ++i)
                if (s.act[static_cast<size_t>(i)] != 0.0f) active->flags[static_cast<size_t>(i)] = 1;
            }
            for (uint8_t f : active->flags) active->n_active += f;
          } else {
            active->n_active = n;
          }
        }
        const int64_t now = trace::now_ns();
        const ActiveSetPtr shared = std::move(active);
        const NeuronSplit& split = *s.args.split;
        // CPU teams first: they only post a job to their own threads and return,
        // while the host gpu-worker computes in its handler; in this order the
        // cold work is under way before the hot work starts (they overlap).
        std::vector<caf::actor> workers;
        for (size_t i = 0; i < split.team_ranges.size(); ++i)
          if (split.team_has_work(in.layer, static_cast<int>(i), shared->flags)) workers.push_back(s.wiring.cpu_workers[i]);
        if (split.hot_has_work(in.layer, shared->flags)) workers.push_back(s.wiring.gpu_worker);
        const int parts = static_cast<int>(workers.size());
        for (const caf::actor& w : workers) caf::anon_send(w, FfnWork{in.step, in.layer, in.token, parts, in.xn, shared, now});
        if (parts == 0) caf::anon_send(s.wiring.merge, FfnExpect{in.step, in.layer, in.token, 0, in.xn->n_tokens, now});
      },
      [self](const CollectTrace&) { return TraceHandoff{self->state.trace}; },
  };
}

}  // namespace

caf::actor spawn_predictor(caf::actor_system& sys, PredictorArgs args) { return sys.spawn(predictor, std::move(args)); }

}  // namespace actinfer::actors
