#include "actors/cpu_worker.h"

#include <string>

#include "actors/actor_common.h"
#include "actors/failure.h"
#include "actors/pinning_hook.h"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "engine/layer_ops.h"
#include "engine/worker_team.h"
#include "protocol/wiring.h"

namespace actinfer::actors {
namespace {

using namespace protocol;

// The team is declared last, so it is destroyed (its running job finished, its threads
// joined) before the workspace, scratch and shard that job reads.
struct CpuWorkerState {
  CpuWorkerArgs args;
  std::unique_ptr<Workspace> ws;
  SparseScratch sparse;  // used by the team's job only (one job in flight at a time)
  std::shared_ptr<trace::TraceBuffer> trace;
  Wiring wiring;
  int token = -1;  // of the layer being computed
  int n_parts = 0;
  std::unique_ptr<WorkerTeam> team;
  static inline const char* name = "cpu-worker";
};

using CpuWorkerSelf = CpuWorkerActor::stateful_pointer<CpuWorkerState>;

CpuWorkerActor::behavior_type cpu_worker(CpuWorkerSelf self, CpuWorkerArgs args) {
  auto& s = self->state;
  const std::string name = "cpu-worker-" + std::to_string(args.index);
  // Exceptions (here: a thread the team cannot create) end the actor with their text; the
  // gpu-worker sees it go down and fails the request. A job that throws on the team's
  // thread does the same through exit_with.
  self->set_exception_handler([name](std::exception_ptr& e) { return error_from(name, e); });
  s.ws = std::make_unique<Workspace>(args.weights->config(), args.max_batch, args.exact_activations);
  s.ws->set_batch_invariant(args.batch_invariant);
  s.trace = std::make_shared<trace::TraceBuffer>(name, "cpu-worker", args.trace);
  s.team = std::make_unique<WorkerTeam>(args.threads, pin_threads_to(args.topology, args.pus, name, "cpu" + std::to_string(args.index) + "-team-"),
                                        [me = self->address(), name](std::exception_ptr e) { exit_with(me, error_from(name, e)); });
  s.args = std::move(args);

  return {
      [self](const Wiring& w) { self->state.wiring = w; },
      [self](const FfnWork& w) {
        auto& s = self->state;
        s.token = w.token;
        s.n_parts = w.n_parts;
        trace_message(*s.trace, "msg:ffn_work", w.layer, w.token, w.sent_ns, tensor_bytes(w.xn));
        const auto me = caf::actor_cast<CpuWorkerActor>(self);
        s.team->post([&s, me, w](ThreadPool& pool) {
          const int64_t t0 = trace::now_ns();
          fault_point(s.args.fault_hook, "cpu-worker job");
          auto y = make_tensor(w.layer, w.xn->n_tokens, s.args.weights->config().d_model);
          uint64_t bytes = 0;
          if (s.args.shard->sparse() && !w.active->per_token.empty()) {
            bytes = s.args.shard->sparse_neurons().compute(pool, w.layer, w.xn->data.data(), w.xn->n_tokens, w.active->per_token,
                                                           y->data.data(), s.sparse);
          } else {  // dense kernels (or a step above the sparse-dense crossover)
            const NeuronRun run = s.args.shard->run();
            // Active neurons of this team's range that are not hot, in shard-local indices.
            const std::vector<uint8_t> local = s.args.split->team_mask(w.layer, s.args.index - 1, w.active->flags);
            ffn_block(pool, *s.ws, s.args.shard->layer(w.layer), w.xn->data.data(), w.xn->n_tokens,
                      NeuronSlice::all(run.end - run.begin), local, y->data.data(), false);
          }
          caf::anon_send(me, JobDone{w.step, w.layer, std::move(y), bytes, t0, trace::now_ns()});
        });
      },
      [self](const JobDone& d) {
        auto& s = self->state;
        trace_job(*s.trace, "ffn_cold", d, s.token, 0);
        FfnPartial part{d.step, d.layer, s.token, s.n_parts, s.args.index, d.out, d.weight_bytes, trace::now_ns()};
        if (s.n_parts == 1) self->send(s.wiring.gpu_worker, std::move(part));
        else self->send(s.wiring.merge, std::move(part));
      },
      [self](const CollectTrace&) { return handoff(*self->state.trace); },
  };
}

}  // namespace

CpuWorkerActor spawn_cpu_worker(caf::actor_system& sys, CpuWorkerArgs args) { return sys.spawn(cpu_worker, std::move(args)); }

}  // namespace actinfer::actors
