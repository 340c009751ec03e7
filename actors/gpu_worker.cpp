#include "actors/gpu_worker.h"

#include <algorithm>
#include <stdexcept>

#include "actors/actor_common.h"
#include "actors/ffn_fanout.h"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/delegated.hpp"
#include "caf/typed_response_promise.hpp"
#include "protocol/messages.h"
#include "protocol/wiring.h"

namespace actinfer::actors {
namespace {

using namespace protocol;

// The backend computes inside the handlers, on the CAF thread that runs this
// actor (host: plus the pool's dedicated threads; cuda: the GPU, the thread waiting
// once per call for its stream): the gpu-worker has nothing else to do meanwhile,
// the cpu-workers compute the cold neurons on their own threads, and the predictor
// and merge hops that follow stay on a hot thread instead of waking a sleeping one.
struct GpuWorkerState {
  GpuWorkerArgs args;
  std::shared_ptr<trace::TraceBuffer> trace;
  Wiring wiring;
  EvalRequest request;  // the forward step in flight
  int n_tokens = 0;
  std::vector<float> x;  // residual stream [n_tokens][d]
  PredictorStats stats;  // when it predicts itself
  std::vector<float> hot_y;  // a layer's FFN output when the gpu-worker computes all of it
  caf::typed_response_promise<LogitsReply> promise;  // the step's reply
  bool busy = false;
  static inline const char* name = "gpu-worker";
};

using Self = caf::stateful_actor<GpuWorkerState>;

// Runs the backend's FFN over the gpu-worker's hot share of w's layer into y; returns
// the weight bytes it read (sparse kernels; 0 otherwise).
uint64_t hot_ffn(Self* self, const FfnWork& w, float* y) {
  auto& s = self->state;
  auto scope = s.trace->scope("ffn_hot", w.layer, w.token);
  if (!w.active->per_token.empty())
    return s.args.backend->ffn_sparse(w.layer, w.xn->data.data(), w.xn->n_tokens, w.active->per_token, y);
  s.args.backend->ffn(w.layer, w.xn->data.data(), w.xn->n_tokens, s.args.split->layers[static_cast<size_t>(w.layer)].hot,
                      w.active->flags, y);
  return 0;
}

// The hot share of a layer's FFN, sent to merge as partial 0.
void compute_hot(Self* self, const FfnWork& w) {
  auto& s = self->state;
  auto y = make_activation(w.layer, w.xn->n_tokens, s.args.weights->config().d_model);
  const uint64_t bytes = hot_ffn(self, w, y->data.data());
  caf::anon_send(s.wiring.merge, FfnPartial{w.step, w.layer, w.token, w.n_parts, 0, std::move(y), bytes, trace::now_ns()});
}

// The backend's trained predictors for the layer, then the work handed out: the
// cpu-workers' by message, the hot share computed here at once. When the gpu-worker
// alone has neurons to compute (or nobody has), the layer ends here: its output goes
// straight into the residual, without the round trip through merge (two message hops,
// ~15 us per layer). Returns whether the layer is done.
bool predict_and_dispatch(Self* self, int layer, ActivationPtr xn) {
  auto& s = self->state;
  const int B = xn->n_tokens, n = s.args.weights->config().d_ff, token = s.request.pos0;
  auto active = std::make_shared<ActiveSet>();
  active->layer = layer;
  {
    const int64_t t0 = trace::now_ns();
    auto scope = s.trace->scope("predict", layer, token);
    s.args.backend->predict(layer, xn->data.data(), B, active->per_token);
    s.stats.predict_ns += trace::now_ns() - t0;
  }
  for (const auto& list : active->per_token) s.stats.predicted += static_cast<int64_t>(list.size());
  s.stats.token_layers += B;
  s.stats.neurons += int64_t{B} * n;
  finish_active_set(*active, n, s.args.sparse);
  const ActiveSetPtr shared = std::move(active);
  const FfnRecipients r = ffn_recipients(s.wiring, *s.args.split, layer, *shared);
  if (r.parts() == 0) return true;  // nothing fires: the FFN adds zero
  FfnWork work{s.request.step, layer, token, r.parts(), std::move(xn), shared, trace::now_ns()};
  if (r.cpu_workers.empty()) {
    s.hot_y.assign(s.x.size(), 0.0f);
    s.stats.ffn_weight_bytes += hot_ffn(self, work, s.hot_y.data());
    add_ffn_output(*s.args.weights, layer, s.hot_y.data(), s.x.data(), B);
    return true;
  }
  send_ffn_work(s.wiring, r, work, false);
  if (r.gpu) compute_hot(self, work);
  return false;
}

// Attention of `layer`, then hand the normalised FFN input to the predictor (or predict
// here). Returns whether the layer is done (its FFN output already in the residual).
bool attention_then_predict(Self* self, int layer) {
  auto& s = self->state;
  const int B = s.n_tokens, d = s.args.weights->config().d_model, token = s.request.pos0;
  auto xn = make_activation(layer, B, d);
  {
    auto scope = s.trace->scope("attention", layer, token);
    s.args.backend->attention(layer, s.request.pos0, B, s.x.data(), xn->data.data());
  }
  if (s.args.predicts) return predict_and_dispatch(self, layer, std::move(xn));
  caf::anon_send(s.wiring.predictor, FfnInput{s.request.step, layer, token, std::move(xn), trace::now_ns()});
  return false;
}

LogitsReply output_logits(Self* self) {
  auto& s = self->state;
  const ModelConfig& c = s.args.weights->config();
  const int B = s.n_tokens, first = s.request.all_logits ? 0 : B - 1;
  auto scope = s.trace->scope("lm_head", -1, s.request.pos0);
  auto logits = std::make_shared<std::vector<float>>(static_cast<size_t>(B - first) * c.n_vocab);
  s.args.backend->output(s.x.data() + static_cast<size_t>(first) * c.d_model, B - first, logits->data());
  return LogitsReply{s.request.step, B - first, std::move(logits)};
}

int n_layers(const GpuWorkerState& s) {
  const int all = s.args.weights->config().n_layers;
  return s.args.max_layers > 0 ? std::min(s.args.max_layers, all) : all;
}

// Layers from `layer` on, as long as each ends here (no merge round trip); then
// either a layer waits for merge's FfnOutput, or the step is done and answered.
void run_layers(Self* self, int layer) {
  auto& s = self->state;
  for (; layer < n_layers(s); ++layer)
    if (!attention_then_predict(self, layer)) return;
  s.busy = false;
  s.promise.deliver(output_logits(self));
}

caf::behavior gpu_worker(Self* self, GpuWorkerArgs args) {
  auto& s = self->state;
  s.trace = std::make_shared<trace::TraceBuffer>("gpu-worker", "gpu-worker", args.trace);
  s.args = std::move(args);

  return {
      [self](const Wiring& w) { self->state.wiring = w; },
      [self](const EvalRequest& req) -> caf::result<LogitsReply> {
        auto& s = self->state;
        if (s.busy) return caf::make_error(caf::sec::runtime_error, "gpu-worker: a forward step is already running");
        s.busy = true;
        s.request = req;
        s.n_tokens = static_cast<int>(req.tokens.size());
        s.x.assign(static_cast<size_t>(s.n_tokens) * s.args.weights->config().d_model, 0.0f);
        embed_tokens(*s.args.weights, req.tokens, s.x.data());
        s.promise = self->make_response_promise<LogitsReply>();
        run_layers(self, 0);
        return caf::delegated<LogitsReply>{};  // s.promise answers (maybe already did)
      },
      [self](const FfnWork& w) {
        trace_message(*self->state.trace, "msg:ffn_work", w.layer, w.token, w.sent_ns, activation_bytes(w.xn));
        compute_hot(self, w);
      },
      [self](const FfnOutput& o) {
        auto& s = self->state;
        trace_message(*s.trace, "msg:ffn_output", o.layer, o.token, o.sent_ns, activation_bytes(o.y));
        add_ffn_output(*s.args.weights, o.layer, o.y->data.data(), s.x.data(), s.n_tokens);
        run_layers(self, o.layer + 1);
      },
      [self](const CollectStats& c) {
        PredictorStats out = self->state.stats;
        if (c.reset) self->state.stats = PredictorStats{};
        out.predictor_bytes = self->state.args.predicts ? self->state.args.predictor_bytes : 0;
        return out;
      },
      [self](const CollectTrace&) { return TraceHandoff{self->state.trace}; },
  };
}

}  // namespace

caf::actor spawn_gpu_worker(caf::actor_system& sys, GpuWorkerArgs args) { return sys.spawn(gpu_worker, std::move(args)); }

}  // namespace actinfer::actors
