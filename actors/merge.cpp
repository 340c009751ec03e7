#include "actors/merge.h"

#include <map>
#include <utility>

#include "actors/actor_common.h"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "protocol/wiring.h"

namespace actinfer::actors {
namespace {

using namespace protocol;

// A layer being merged: the first partial is copied into the sum, the others added.
struct Pending {
  int received = 0;
  uint64_t weight_bytes = 0;
  std::shared_ptr<Tensor> sum;
};

struct MergeState {
  MergeArgs args;
  std::map<std::pair<uint64_t, int>, Pending> pending;  // by (step, layer)
  std::shared_ptr<trace::TraceBuffer> trace;
  Wiring wiring;
  static inline const char* name = "merge";
};

using MergeSelf = MergeActor::stateful_pointer<MergeState>;

MergeActor::behavior_type merge(MergeSelf self, MergeArgs args) {
  self->state.args = args;
  self->state.trace = std::make_shared<trace::TraceBuffer>("merge", "merge", args.trace);
  return {
      [self](const Wiring& w) { self->state.wiring = w; },
      [self](const FfnPartial& part) {
        auto& s = self->state;
        trace_message(*s.trace, "msg:ffn_partial", part.layer, part.token, part.sent_ns, tensor_bytes(part.y));
        auto scope = s.trace->scope("merge", part.layer, part.token);
        const std::pair<uint64_t, int> key{part.step, part.layer};
        Pending& p = s.pending[key];
        ++p.received;
        p.weight_bytes += part.weight_bytes;
        if (!p.sum) {
          p.sum = std::make_shared<Tensor>(*part.y);
        } else {
          float* dst = p.sum->data.data();
          const float* src = part.y->data.data();
          for (size_t i = 0; i < p.sum->data.size() && i < part.y->data.size(); ++i) dst[i] += src[i];
        }
        scope.finish();
        if (p.received < part.n_parts) return;
        self->send(s.wiring.gpu_worker, FfnOutput{part.step, part.layer, part.token, std::move(p.sum), p.weight_bytes, trace::now_ns()});
        s.pending.erase(key);
      },
      [self](const CollectTrace&) { return handoff(*self->state.trace); },
  };
}

}  // namespace

MergeActor spawn_merge(caf::actor_system& sys, MergeArgs args) { return sys.spawn(merge, args); }

}  // namespace actinfer::actors
