#include "actors/gpu_worker.h"

#include <algorithm>
#include <stdexcept>

#include "actors/actor_common.h"
#include "actors/failure.h"
#include "actors/ffn_fanout.h"
#include "caf/delegated.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "engine/layer_ops.h"
#include "protocol/messages.h"
#include "protocol/wiring.h"

namespace actinfer::actors {
namespace {

using namespace protocol;

// The backend computes inside the handlers, on the CAF thread that runs this actor
// (host: plus the pool's dedicated threads; cuda: the GPU, the thread waiting once per
// call for its stream): the gpu-worker has nothing else to do meanwhile, and the
// cpu-workers compute the cold neurons on their own threads at the same time.
struct GpuWorkerState {
  GpuWorkerArgs args;
  std::shared_ptr<trace::TraceBuffer> trace;
  Wiring wiring;
  EvalRequest request;  // the forward step in flight
  int n_tokens = 0;
  std::vector<float> x;      // residual stream [n_tokens][d]
  std::vector<float> hot_y;  // the hot share of a layer's FFN output
  std::vector<float> last;   // each sequence's last row, for the output head
  ActiveSetPtr every;        // every neuron for n_tokens tokens (ActiveSource::Every)
  PredictorStats stats;      // of the active sets it made itself
  caf::typed_response_promise<LogitsReply> promise;  // the step's reply
  std::shared_ptr<Tensor> logits;  // the last reply's buffer, reused once its reader let go
  bool busy = false;
  std::string failure;  // why another actor of the runtime went down: every later request fails
  int awaiting = -1;   // the layer whose cold share (or prediction) is in flight; -1: none
  uint64_t stray = 0;  // messages dropped: not of the step and layer awaited
  static inline const char* name = "gpu-worker";
};

using Self = GpuWorkerActor::stateful_pointer<GpuWorkerState>;

void run_layers(Self self, int layer);

// A post-FFN norm (gemma3) needs the layer's whole FFN output: the hot share then waits
// in hot_y for the cold share, and the sum joins the residual through add_ffn_output.
bool post_ffn_norm(const GpuWorkerState& s, int layer) {
  return !s.args.weights->layers()[static_cast<size_t>(layer)].post_ffn_norm.empty();
}

// The hot share of the layer's FFN, added to the residual here (kept in hot_y under a post-FFN norm).
void add_hot(Self self, int layer, const Tensor& xn, const ActiveSet& active) {
  auto& s = self->state;
  const bool post_norm = post_ffn_norm(s, layer);
  if (!s.args.split->hot_has_work(layer, active.flags)) {
    if (post_norm) s.hot_y.assign(s.x.size(), 0.0f);
    return;
  }
  auto scope = s.trace->scope("ffn_hot", layer, s.request.first_position());
  s.hot_y.resize(s.x.size());
  if (!active.per_token.empty())
    s.stats.ffn_weight_bytes += s.args.backend->ffn_sparse(layer, xn.data.data(), xn.n_tokens, active.per_token, s.hot_y.data());
  else
    s.args.backend->ffn(layer, xn.data.data(), xn.n_tokens, s.args.split->layers[static_cast<size_t>(layer)].hot, active.flags, s.hot_y.data());
  if (post_norm) return;
  for (size_t i = 0; i < s.x.size(); ++i) s.x[i] += s.hot_y[i];
}

// Hands the cold work of the layer out, then computes the hot share meanwhile.
// Returns whether the layer is done (no cpu-worker had work).
bool run_ffn(Self self, int layer, TensorPtr xn, ActiveSetPtr active) {
  auto& s = self->state;
  const std::vector<CpuWorkerActor> cold = cold_recipients(s.wiring, *s.args.split, layer, *active);
  if (!cold.empty()) {
    // Sent first: the teams start on the cold share while the hot share is computed here.
    const FfnWork work{s.request.step, layer, s.request.first_position(), static_cast<int>(cold.size()), xn, active, trace::now_ns()};
    for (const CpuWorkerActor& w : cold) self->send(w, work);
  }
  add_hot(self, layer, *xn, *active);
  if (cold.empty()) {
    if (post_ffn_norm(s, layer)) add_ffn_output(*s.args.weights, layer, s.hot_y.data(), s.x.data(), s.n_tokens);
    return true;
  }
  s.awaiting = layer;
  return false;
}

// Each token's predicted neurons from the backend's trained predictors.
ActiveSetPtr predict_here(Self self, int layer, const Tensor& xn) {
  auto& s = self->state;
  auto active = std::make_shared<ActiveSet>();
  {
    const int64_t t0 = trace::now_ns();
    auto scope = s.trace->scope("predict", layer, s.request.first_position());
    s.args.backend->predict(layer, xn.data.data(), xn.n_tokens, active->per_token);
    s.stats.predict_ns += trace::now_ns() - t0;
  }
  for (const auto& list : active->per_token) s.stats.predicted += static_cast<int64_t>(list.size());
  finish_active_set(*active, s.args.weights->config().d_ff, sparse_step(s.args.sparse, xn.n_tokens, s.args.sparse_dense_crossover));
  return active;
}

// Attention of `layer`, then its FFN. Returns whether the layer is done (its whole
// FFN output already in the residual); otherwise a message continues it.
bool run_layer(Self self, int layer) {
  auto& s = self->state;
  const int B = s.n_tokens, n = s.args.weights->config().d_ff, token = s.request.first_position();
  auto xn = make_tensor(layer, B, s.args.weights->config().d_model);
  {
    auto scope = s.trace->scope("attention", layer, token);
    fault_point(s.args.fault_hook, "gpu-worker backend");
    s.args.backend->attention(layer, s.request.sequences, B, s.x.data(), xn->data.data());
  }
  switch (s.args.active) {
    case ActiveSource::Every:
      s.stats.token_layers += B;
      s.stats.neurons += int64_t{B} * n;
      s.stats.predicted += int64_t{B} * n;
      return run_ffn(self, layer, std::move(xn), s.every);
    case ActiveSource::Backend:
      s.stats.token_layers += B;
      s.stats.neurons += int64_t{B} * n;
      return run_ffn(self, layer, xn, predict_here(self, layer, *xn));
    case ActiveSource::Predictor:
      break;
  }
  s.awaiting = layer;
  const uint64_t step = s.request.step;
  self->request(s.wiring.predictor, caf::infinite, FfnInput{step, layer, token, xn, trace::now_ns()})
      .then(
          [self, xn](const FfnPrediction& p) {
            auto& s = self->state;
            trace_message(*s.trace, "msg:ffn_prediction", p.layer, p.token, p.sent_ns, 0);
            if (!s.busy || p.step != s.request.step || p.layer != s.awaiting) {
              ++s.stray;
              return;
            }
            s.awaiting = -1;
            if (run_ffn(self, p.layer, xn, p.active)) run_layers(self, p.layer + 1);
          },
          [self](caf::error& e) {
            auto& s = self->state;
            s.busy = false;
            s.awaiting = -1;
            s.promise.deliver(std::move(e));
          });
  return false;
}

LogitsReply output_logits(Self self) {
  auto& s = self->state;
  const ModelConfig& c = s.args.weights->config();
  const size_t d = static_cast<size_t>(c.d_model);
  const auto& seqs = s.request.sequences;
  auto scope = s.trace->scope("lm_head", -1, s.request.first_position());
  // The rows whose logits are asked for: all of them, the last (one sequence), or each
  // sequence's last, gathered so the head reads its weights once for all.
  const float* rows = s.x.data();
  int n = s.n_tokens;
  if (!s.request.all_logits && seqs.size() == 1) {
    rows += static_cast<size_t>(n - 1) * d;
    n = 1;
  } else if (!s.request.all_logits) {
    s.last.resize(seqs.size() * d);
    size_t row = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
      row += static_cast<size_t>(seqs[i].n_tokens);
      std::copy_n(s.x.data() + (row - 1) * d, d, s.last.data() + i * d);
    }
    rows = s.last.data();
    n = static_cast<int>(seqs.size());
  }
  // The driver drops the previous reply before asking for the next step (a decode
  // token's 49152 logits are 192 KiB: no allocation, no zero fill per token).
  if (!s.logits || s.logits.use_count() != 1 || s.logits->n_tokens != n) s.logits = make_tensor(-1, n, c.n_vocab);
  s.args.backend->output(rows, n, s.logits->data.data());
  return LogitsReply{s.request.step, s.logits, s.stray};
}

// Why the request's sequences do not describe its tokens (empty: they do). Slots and
// positions are the backend's to check (it holds the caches).
std::string sequences_problem(const EvalRequest& req) {
  if (req.sequences.empty()) return "a forward step without sequences";
  size_t rows = 0;
  for (const StepSequence& q : req.sequences) {
    if (q.n_tokens < 1) return "a sequence of " + std::to_string(q.n_tokens) + " tokens in slot " + std::to_string(q.slot);
    rows += static_cast<size_t>(q.n_tokens);
  }
  if (rows != req.tokens.size())
    return "the sequences hold " + std::to_string(rows) + " tokens, the step " + std::to_string(req.tokens.size());
  return {};
}

int n_layers(const GpuWorkerState& s) {
  const int all = s.args.weights->config().n_layers;
  return s.args.max_layers > 0 ? std::min(s.args.max_layers, all) : all;
}

// Layers from `layer` on, as long as each ends here; then either a layer waits for
// its cold share (or its prediction), or the step is done and answered.
void run_layers(Self self, int layer) {
  auto& s = self->state;
  for (; layer < n_layers(s); ++layer)
    if (!run_layer(self, layer)) return;
  s.busy = false;
  s.promise.deliver(output_logits(self));
}

// The cold share of the awaited layer arrived: add it and go on. Anything else
// (an old step's, another layer's, or outside a step) is dropped and counted.
void add_cold(Self self, uint64_t step, int layer, const TensorPtr& y, uint64_t weight_bytes) {
  auto& s = self->state;
  if (!s.busy || step != s.request.step || layer != s.awaiting || !y || y->data.size() != s.x.size()) {
    ++s.stray;
    return;
  }
  s.awaiting = -1;
  s.stats.ffn_weight_bytes += weight_bytes;
  const float* src = y->data.data();
  if (post_ffn_norm(s, layer)) {
    for (size_t i = 0; i < s.x.size(); ++i) s.hot_y[i] += src[i];
    add_ffn_output(*s.args.weights, layer, s.hot_y.data(), s.x.data(), s.n_tokens);
  } else {
    for (size_t i = 0; i < s.x.size(); ++i) s.x[i] += src[i];
  }
  run_layers(self, layer + 1);
}

// Ends the step in flight, if any, with `err` (its requester gets the error, not silence).
void fail_step(Self self, const caf::error& err) {
  auto& s = self->state;
  if (s.busy) s.promise.deliver(err);
  s.busy = false;
  s.awaiting = -1;
}

GpuWorkerActor::behavior_type gpu_worker(Self self, GpuWorkerArgs args) {
  auto& s = self->state;
  // The backend threw: answer the step with the error, then end (its state is suspect).
  self->set_exception_handler([self](std::exception_ptr& e) {
    caf::error err = error_from("gpu-worker", e);
    fail_step(self, err);
    return err;
  });
  // Another actor ended abnormally (an exception in its handler or its team's job): the
  // step can never complete. Fail it, and every later one, with that actor's reason.
  self->set_down_handler([self](caf::down_msg& m) {
    if (!m.reason) return;
    self->state.failure = self->system().render(m.reason);
    fail_step(self, caf::make_error(caf::sec::runtime_error, "an actor of the runtime failed: " + self->state.failure));
  });
  s.trace = std::make_shared<trace::TraceBuffer>("gpu-worker", "gpu-worker", args.trace);
  s.args = std::move(args);

  return {
      [self](const Wiring& w) {
        self->state.wiring = w;
        // (CAF 0.17's monitor() does not accept a null handle: the predictor may be absent.)
        if (w.predictor) self->monitor(w.predictor);
        if (w.merge) self->monitor(w.merge);
        for (const auto& c : w.cpu_workers)
          if (c) self->monitor(c);
      },
      [self](const EvalRequest& req) -> caf::result<LogitsReply> {
        auto& s = self->state;
        if (!s.failure.empty()) return caf::make_error(caf::sec::runtime_error, "an actor of the runtime failed: " + s.failure);
        if (s.busy) return caf::make_error(caf::sec::runtime_error, "gpu-worker: a forward step is already running");
        if (req.tokens.empty()) return caf::make_error(caf::sec::invalid_argument, "gpu-worker: a forward step without tokens");
        if (auto why = sequences_problem(req); !why.empty()) return caf::make_error(caf::sec::invalid_argument, "gpu-worker: " + why);
        s.busy = true;
        s.request = req;
        s.n_tokens = static_cast<int>(req.tokens.size());
        const ModelConfig& c = s.args.weights->config();
        s.x.assign(static_cast<size_t>(s.n_tokens) * c.d_model, 0.0f);
        embed_tokens(*s.args.weights, req.tokens, s.x.data());
        const bool lists = sparse_step(s.args.sparse, s.n_tokens, s.args.sparse_dense_crossover);
        if (s.args.active == ActiveSource::Every &&
            (!s.every || lists == s.every->per_token.empty() || (lists && static_cast<int>(s.every->per_token.size()) != s.n_tokens)))
          s.every = every_neuron(s.n_tokens, c.d_ff, lists);
        s.promise = self->make_response_promise<LogitsReply>();
        run_layers(self, 0);
        return caf::delegated<LogitsReply>{};  // s.promise answers (maybe already did)
      },
      [self](const FfnPartial& p) {
        trace_message(*self->state.trace, "msg:ffn_partial", p.layer, p.token, p.sent_ns, tensor_bytes(p.y));
        add_cold(self, p.step, p.layer, p.y, p.weight_bytes);
      },
      [self](const FfnOutput& o) {
        trace_message(*self->state.trace, "msg:ffn_output", o.layer, o.token, o.sent_ns, tensor_bytes(o.y));
        add_cold(self, o.step, o.layer, o.y, o.weight_bytes);
      },
      [self](const CollectStats& c) {
        PredictorStats out = self->state.stats;
        if (c.reset) self->state.stats = PredictorStats{};
        out.predictor_bytes = self->state.args.active == ActiveSource::Backend ? self->state.args.predictor_bytes : 0;
        return out;
      },
      [self](const CollectTrace&) { return handoff(*self->state.trace); },
  };
}

}  // namespace

GpuWorkerActor spawn_gpu_worker(caf::actor_system& sys, GpuWorkerArgs args) { return sys.spawn(gpu_worker, std::move(args)); }

}  // namespace actinfer::actors
