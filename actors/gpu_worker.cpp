#include "actors/gpu_worker.h"

#include <optional>
#include <stdexcept>

#include "actors/actor_common.h"
#include "actors/pinning_hook.h"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "engine/layer_ops.h"
#include "engine/worker_team.h"
#include "protocol/messages.h"
#include "protocol/wiring.h"

namespace actinfer::actors {
namespace {

using namespace protocol;

enum JobKind { kAttention = 1, kFfnHot = 2, kHead = 3 };

struct GpuWorkerState {
  GpuWorkerArgs args;
  std::unique_ptr<KvCache> cache;
  std::unique_ptr<Workspace> ws;
  std::unique_ptr<WorkerTeam> team;  // the host backend's threads
  std::shared_ptr<trace::TraceBuffer> trace;
  Wiring wiring;
  // The forward step in flight.
  std::optional<caf::typed_response_promise<LogitsReply>> promise;
  EvalRequest request;
  int n_tokens = 0;
  std::vector<float> x;  // residual stream [n_tokens][d]
  static inline const char* name = "gpu-worker";
};

using Self = caf::stateful_actor<GpuWorkerState>;

void start_attention(Self* self, int layer) {
  auto& s = self->state;
  const auto me = caf::actor_cast<caf::actor>(self);
  const uint64_t step = s.request.step;
  const int pos0 = s.request.pos0, B = s.n_tokens, d = s.args.weights->config().d_model;
  s.team->post([&s, me, step, layer, pos0, B, d](ThreadPool& pool) {
    const int64_t t0 = trace::now_ns();
    attention_block(pool, *s.ws, *s.args.weights, *s.cache, layer, pos0, B, s.x.data());
    auto xn = make_activation(layer, B, d);
    ffn_norm(*s.args.weights, layer, s.x.data(), xn->data.data(), B);
    caf::anon_send(me, JobDone{step, layer, kAttention, std::move(xn), t0, trace::now_ns()});
  });
}

void start_output_head(Self* self) {
  auto& s = self->state;
  const auto me = caf::actor_cast<caf::actor>(self);
  const uint64_t step = s.request.step;
  const int B = s.n_tokens, first = s.request.all_logits ? 0 : B - 1;
  const int nv = s.args.weights->config().n_vocab, d = s.args.weights->config().d_model;
  s.team->post([&s, me, step, B, first, nv, d](ThreadPool& pool) {
    const int64_t t0 = trace::now_ns();
    auto logits = make_activation(-1, B - first, nv);
    output_head(pool, *s.ws, *s.args.weights, s.x.data() + static_cast<size_t>(first) * d, B - first, logits->data.data());
    caf::anon_send(me, JobDone{step, -1, kHead, std::move(logits), t0, trace::now_ns()});
  });
}

caf::behavior gpu_worker(Self* self, GpuWorkerArgs args) {
  auto& s = self->state;
  const ModelConfig& c = args.weights->config();
  s.cache = std::make_unique<KvCache>(c.n_layers, args.n_ctx, c.n_kv_heads * c.head_dim);
  const int threads = default_thread_count(args.engine.n_threads);
  s.ws = std::make_unique<Workspace>(c, args.engine.max_batch, threads, args.n_ctx, args.engine.exact_activations);
  s.team = std::make_unique<WorkerTeam>(threads, pin_threads_to(args.topology, args.pus, "gpu-worker (host backend)"));
  s.trace = std::make_shared<trace::TraceBuffer>("gpu-worker", "gpu-worker", args.trace);
  s.args = std::move(args);

  return {
      [self](const Wiring& w) { self->state.wiring = w; },
      [self](const EvalRequest& req) -> caf::result<LogitsReply> {
        auto& s = self->state;
        if (s.promise) return caf::make_error(caf::sec::runtime_error, "gpu-worker: a forward step is already running");
        const ModelConfig& c = s.args.weights->config();
        s.request = req;
        s.n_tokens = static_cast<int>(req.tokens.size());
        s.x.assign(static_cast<size_t>(s.n_tokens) * c.d_model, 0.0f);
        embed_tokens(*s.args.weights, req.tokens, s.x.data());
        s.promise = self->make_response_promise<LogitsReply>();
        start_attention(self, 0);
        return *s.promise;
      },
      [self](const JobDone& d) {
        auto& s = self->state;
        const int token = s.request.pos0;
        if (d.kind == kAttention) {
          trace_job(*s.trace, "attention", d, token, 0);
          caf::anon_send(s.wiring.predictor, FfnInput{d.step, d.layer, token, d.out, trace::now_ns()});
        } else if (d.kind == kFfnHot) {
          trace_job(*s.trace, "ffn_hot", d, token, 0);
          caf::anon_send(s.wiring.merge, FfnPartial{d.step, d.layer, token, 0, d.out, trace::now_ns()});
        } else if (d.kind == kHead) {
          trace_job(*s.trace, "lm_head", d, token, 0);
          auto logits = std::make_shared<const std::vector<float>>(d.out->data);
          auto promise = std::move(*s.promise);
          s.promise.reset();
          promise.deliver(LogitsReply{d.step, d.out->n_tokens, std::move(logits)});
        }
      },
      [self](const FfnWork& w) {
        auto& s = self->state;
        trace_message(*s.trace, "msg:ffn_work", w.layer, s.request.pos0, w.sent_ns, activation_bytes(w.xn));
        const auto me = caf::actor_cast<caf::actor>(self);
        s.team->post([&s, me, w](ThreadPool& pool) {
          const int64_t t0 = trace::now_ns();
          const ModelConfig& c = s.args.weights->config();
          auto y = make_activation(w.layer, w.xn->n_tokens, c.d_model);
          ffn_block(pool, *s.ws, FfnWeights::of_layer(*s.args.weights, w.layer), w.xn->data.data(), w.xn->n_tokens,
                    s.args.split->layers[static_cast<size_t>(w.layer)].hot, w.active->flags, y->data.data(), false);
          caf::anon_send(me, JobDone{w.step, w.layer, kFfnHot, std::move(y), t0, trace::now_ns()});
        });
      },
      [self](const FfnOutput& o) {
        auto& s = self->state;
        trace_message(*s.trace, "msg:ffn_output", o.layer, s.request.pos0, o.sent_ns, activation_bytes(o.y));
        const float* y = o.y->data.data();
        for (size_t i = 0; i < s.x.size(); ++i) s.x[i] += y[i];
        const int next = o.layer + 1;
        if (next < static_cast<int>(s.args.weights->config().n_layers) &&
            (s.args.engine.max_layers == 0 || next < s.args.engine.max_layers))
          start_attention(self, next);
        else
          start_output_head(self);
      },
      [self](const CollectTrace&) { return TraceHandoff{self->state.trace}; },
  };
}

}  // namespace

caf::actor spawn_gpu_worker(caf::actor_system& sys, GpuWorkerArgs args) { return sys.spawn(gpu_worker, std::move(args)); }

}  // namespace actinfer::actors
