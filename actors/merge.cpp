#include "actors/merge.h"

#include <map>
#include <utility>

#include "actors/actor_common.h"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "protocol/wiring.h"

namespace actinfer::actors {
namespace {

using namespace protocol;

// A layer being merged: partials may arrive before the predictor says how many to expect.
struct Pending {
  int expected = -1;
  int received = 0;
  int n_tokens = 0;
  int token = 0;
  ActivationPtr first;               // a lone partial is forwarded as it is
  std::shared_ptr<Activation> sum;   // two or more are summed here
};

struct MergeState {
  MergeArgs args;
  std::map<std::pair<uint64_t, int>, Pending> pending;  // by (step, layer)
  std::shared_ptr<trace::TraceBuffer> trace;
  Wiring wiring;
  uint64_t ffn_weight_bytes = 0;  // what the workers read, since the last stats reset
  static inline const char* name = "merge";
};

using Self = caf::stateful_actor<MergeState>;

void maybe_finish(Self* self, std::pair<uint64_t, int> key) {
  auto& s = self->state;
  auto it = s.pending.find(key);
  Pending& p = it->second;
  if (p.expected < 0 || p.received < p.expected) return;
  ActivationPtr out = p.sum ? ActivationPtr(std::move(p.sum)) : p.first ? std::move(p.first)
                                                                         : make_activation(key.second, p.n_tokens, s.args.d_model);  // no neuron fired
  caf::anon_send(s.wiring.gpu_worker, FfnOutput{key.first, key.second, p.token, std::move(out), trace::now_ns()});
  s.pending.erase(it);
}

caf::behavior merge(Self* self, MergeArgs args) {
  self->state.args = args;
  self->state.trace = std::make_shared<trace::TraceBuffer>("merge", "merge", args.trace);
  return {
      [self](const Wiring& w) { self->state.wiring = w; },
      [self](const FfnExpect& e) {
        auto& s = self->state;
        trace_message(*s.trace, "msg:ffn_expect", e.layer, e.token, e.sent_ns, 0);
        Pending& p = s.pending[{e.step, e.layer}];
        p.expected = e.n_parts;
        p.token = e.token;
        p.n_tokens = e.n_tokens;
        maybe_finish(self, {e.step, e.layer});
      },
      [self](const FfnPartial& part) {
        auto& s = self->state;
        trace_message(*s.trace, "msg:ffn_partial", part.layer, part.token, part.sent_ns, activation_bytes(part.y));
        auto scope = s.trace->scope("merge", part.layer, part.token);
        Pending& p = s.pending[{part.step, part.layer}];
        s.ffn_weight_bytes += part.weight_bytes;
        ++p.received;
        p.expected = part.n_parts;
        p.token = part.token;
        p.n_tokens = part.y->n_tokens;
        if (!p.first) {
          p.first = part.y;
        } else {
          if (!p.sum) p.sum = std::make_shared<Activation>(*p.first);
          float* dst = p.sum->data.data();
          const float* src = part.y->data.data();
          for (size_t i = 0; i < p.sum->data.size(); ++i) dst[i] += src[i];
        }
        scope.finish();
        maybe_finish(self, {part.step, part.layer});
      },
      [self](const CollectStats& c) {
        PredictorStats out;
        out.ffn_weight_bytes = self->state.ffn_weight_bytes;
        if (c.reset) self->state.ffn_weight_bytes = 0;
        return out;
      },
      [self](const CollectTrace&) { return TraceHandoff{self->state.trace}; },
  };
}

}  // namespace

caf::actor spawn_merge(caf::actor_system& sys, MergeArgs args) { return sys.spawn(merge, args); }

}  // namespace actinfer::actors
