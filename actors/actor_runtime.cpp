#include "actors/actor_runtime.h"

#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "actors/cold_shard.h"
#include "config/cpu_list.h"
#include "config/host_pinning.h"
#include "config/machine_fit.h"
#include "actors/cpu_worker.h"
#include "actors/gpu_worker.h"
#include "actors/merge.h"
#include "actors/neuron_split.h"
#include "actors/predictor.h"
#include "engine/neuron_predictor.h"
#include "model/powerinfer_predictors.h"
#include "model/profile_file.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/exit_reason.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "protocol/messages.h"
#include "protocol/type_ids.h"
#include "protocol/wiring.h"
#include "trace/chrome_trace.h"
#include "trace/trace_buffer.h"
#include "topology/pinning.h"

namespace actinfer {

struct ActorRuntime::Impl {
  std::shared_ptr<const ModelWeights> weights;
  DeploymentConfig options;
  std::shared_ptr<const topology::Topology> topo;
  std::shared_ptr<const NeuronSplit> split;
  PredictorMode predictor_mode = PredictorMode::oracle;  // resolved: never automatic
  std::vector<float> thresholds;
  std::shared_ptr<const NeuronPredictors> predictors;
  std::shared_ptr<Backend> backend;  // made here (so errors surface before spawning), moved to the gpu-worker
  std::string backend_name;
  std::vector<int> host_pus;  // where the host backend's threads are pinned (empty: unpinned)
  actors::ActiveSource active_source = actors::ActiveSource::Every;  // who decides each layer's active neurons
  DeviceFootprint footprint;
  int n_ctx = 0;            // per slot
  std::vector<int> n_past;  // per slot
  uint64_t step = 0;
  // The logits of the last eval, kept in the replies that carried them (no copy): each
  // reply's rows from `first` on, in order.
  struct LogitRows {
    protocol::TensorPtr tensor;
    int first = 0;
  };
  std::vector<LogitRows> logits;
  int n_logits = 0;
  std::vector<std::shared_ptr<const ColdShard>> shards;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  protocol::GpuWorkerActor gpu;
  protocol::PredictorActor predictor;  // invalid unless active_source is Predictor
  protocol::MergeActor merge;
  std::vector<protocol::CpuWorkerActor> cpu;
  trace::TraceBuffer driver_trace{"driver", "driver", false};
  std::vector<trace::TraceBuffer> slot_traces;  // "slot N": the steps of the sequence in slot N
  std::unique_ptr<caf::scoped_actor> driver;  // the caller's side of every request (made once)

  // One forward step through the gpu-worker; keeps the reply's logit rows from `first_kept`
  // on (-1: none). Throws std::runtime_error with the failure of any actor.
  void run_step(protocol::EvalRequest req, int first_kept);

  // Calls f(handle) for every actor spawned.
  template <class F>
  void for_each_actor(F&& f) const {
    f(gpu);
    if (predictor) f(predictor);
    f(merge);
    for (const auto& c : cpu) f(c);
  }

  // Explicit shutdown, also when the constructor throws after spawning: actors drop each
  // other's handles when they exit, so the actor system's destructor has nothing left to
  // wait for (without the exits it would wait forever).
  ~Impl() {
    for_each_actor([](const auto& a) { caf::anon_send_exit(a, caf::exit_reason::user_shutdown); });  // null handles: no-op
    gpu = protocol::GpuWorkerActor{};
    predictor = protocol::PredictorActor{};
    merge = protocol::MergeActor{};
    cpu.clear();
    driver.reset();
    logits.clear();
    sys.reset();
  }
};

namespace {

void check_options(const DeploymentConfig& o, const topology::Topology& topo) {
  if (o.teams.empty() && o.hot_fraction < 1.0 && o.placement.empty())
    throw std::invalid_argument("hot fraction " + std::to_string(o.hot_fraction) + " leaves cold neurons but no CPU-worker team is configured");
  check_fits_machine(o, topo);
  for (size_t i = 0; i < o.teams.size(); ++i)
    if (o.teams[i].threads < 0) throw std::invalid_argument("team " + std::to_string(i) + ": threads must be >= 0");
  if (o.scheduler_threads < 1) throw std::invalid_argument("scheduler threads must be >= 1");
}

// auto: trained with a predictor file (or predictors inside a PowerInfer model), threshold
// with a profile on a non-ReLU model, else oracle.
PredictorMode resolve_predictor(const DeploymentConfig& o, const ModelConfig& c, bool model_has_predictors) {
  if (o.predictor != PredictorMode::automatic) return o.predictor;
  if (!o.predictors.empty() || model_has_predictors) return PredictorMode::trained;
  if (!o.profile.empty() && c.activation != Activation::ReLU) return PredictorMode::threshold;
  return PredictorMode::oracle;
}

}  // namespace

int synthetic_team_threads(int topology_pus, int n_teams) {
  const int machine = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return std::max(1, std::min(topology_pus, machine / std::max(1, n_teams)));
}

ActorRuntime::ActorRuntime(std::shared_ptr<const ModelWeights> weights, DeploymentConfig options, FaultHook fault_hook)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.weights = std::move(weights);
  m.options = std::move(options);
  const ModelConfig& c = m.weights->config();
  m.n_ctx = checked_context(m.options.engine, c);
  if (m.options.batch < 1) throw std::invalid_argument("sequence slots (batch) must be >= 1, got " + std::to_string(m.options.batch));
  m.n_past.assign(static_cast<size_t>(m.options.batch), 0);
  m.topo = std::make_shared<const topology::Topology>(topology::Topology::from_spec(m.options.topology));
  check_options(m.options, *m.topo);
  if (!m.options.predictors.empty()) {
    m.predictors = std::make_shared<const NeuronPredictors>(NeuronPredictors::load(m.options.predictors, c));
  } else if (m.options.predictor == PredictorMode::automatic || m.options.predictor == PredictorMode::trained) {
    // A PowerInfer model file carries its predictors (blk.N.fc1/fc2): used without a side file.
    if (auto in_model = predictors_in_model(*m.weights)) m.predictors = std::make_shared<const NeuronPredictors>(std::move(*in_model));
  }
  m.predictor_mode = resolve_predictor(m.options, c, m.predictors != nullptr);
  if (!m.options.profile.empty()) {
    try {
      m.thresholds = load_profile(m.options.profile, c).thresholds;
    } catch (const std::runtime_error& e) {
      throw std::invalid_argument(e.what());
    }
  } else if (m.predictors) {
    for (int l = 0; l < m.predictors->n_layers(); ++l) m.thresholds.push_back(m.predictors->info(l).threshold);
  }
  if (m.predictor_mode == PredictorMode::trained && !m.predictors)
    throw std::invalid_argument("predictor 'trained' needs a predictor file (predictors = \"...\", from actinfer train-predictor)");
  const int block = static_cast<int>(traits(m.weights->layers()[0].down.type).block_elems);
  const int n_teams = static_cast<int>(m.options.teams.size());
  m.split = std::make_shared<const NeuronSplit>(
      m.options.placement.empty() ? split_by_fraction(c.n_layers, c.d_ff, m.options.hot_fraction, n_teams, block)
                                  : split_by_placement(load_placement(m.options.placement, c), n_teams, block));
  std::vector<int64_t> hot_per_layer;
  for (const LayerSplit& l : m.split->layers) hot_per_layer.push_back(l.hot.count());
  const bool sparse = m.options.sparse;
  m.footprint = device_footprint(*m.weights, hot_per_layer, m.n_ctx * m.options.batch, sparse, m.options.engine.cache_type);
  if (m.predictors) m.footprint.predictors = m.predictors->bytes();
  check_budget(m.footprint, m.options.vram_budget, std::string(to_string(m.options.backend)));
  BackendOptions bo;
  bo.kind = m.options.backend;
  bo.engine = m.options.engine;
  bo.n_ctx = m.n_ctx;
  bo.n_slots = m.options.batch;
  bo.pus = host_thread_pus(m.options, topology::allowed_pus());
  bo.pin_caller = pin_host_caller(m.options);
  m.host_pus = bo.pus;
  bo.topology = m.topo;
  bo.sparse = sparse;
  bo.hot_neurons = m.split->hot_neurons();
  bo.device = m.options.gpu_device;
  bo.vram_budget = m.options.vram_budget;
  // Trained predictors run on the gpu-worker's backend, where the FFN input already is
  // (PowerInfer runs them on the GPU): no hop to the predictor actor and back per layer.
  // Checking recall needs the true activations, which the predictor actor computes, as
  // it computes thresholds. all and oracle predict nothing: every neuron is computed,
  // and the FFN's own gate pass skips the ReLU neurons that do not fire.
  if (m.predictor_mode == PredictorMode::threshold || (m.predictor_mode == PredictorMode::trained && m.options.check_recall))
    m.active_source = actors::ActiveSource::Predictor;
  else if (m.predictor_mode == PredictorMode::trained)
    m.active_source = actors::ActiveSource::Backend;
  if (m.active_source == actors::ActiveSource::Backend) bo.predictors = m.predictors;
  m.backend = make_backend(m.weights, bo);
  m.backend_name = m.backend->name();
  for (size_t i = 0; i < m.options.teams.size(); ++i) {
    const NeuronRun range = m.split->team_ranges[i];
    const int node = m.options.teams[i].numa_node;
    m.shards.push_back(sparse ? std::make_shared<const ColdShard>(*m.weights, range, m.split->team_neurons(static_cast<int>(i)), *m.topo, node)
                              : std::make_shared<const ColdShard>(*m.weights, range, *m.topo, node));
  }

  m.cfg.set("scheduler.policy", caf::atom_from_string(to_string(m.options.scheduler_policy)));
  m.cfg.set("scheduler.max-threads", static_cast<size_t>(m.options.scheduler_threads));
  m.cfg.set("logger.console", caf::atom("none"));
  protocol::register_message_types(m.cfg);
  m.sys = std::make_unique<caf::actor_system>(m.cfg);
  m.driver_trace = trace::TraceBuffer("driver", "driver", m.options.tracing());
  for (int i = 0; i < m.options.batch; ++i) m.slot_traces.emplace_back("slot " + std::to_string(i), "sequence", m.options.tracing(), 256);

  const bool tr = m.options.tracing();
  actors::GpuWorkerArgs ga;
  ga.weights = m.weights;
  ga.split = m.split;
  ga.backend = std::move(m.backend);
  ga.max_layers = m.options.engine.max_layers;
  ga.active = m.active_source;
  ga.sparse = sparse;
  // The cuda backend holds the hot neurons only as bundles: its steps stay sparse.
  const int crossover = m.options.backend == BackendKind::host ? m.options.sparse_dense_crossover : std::numeric_limits<int>::max();
  ga.sparse_dense_crossover = crossover;
  ga.predictor_bytes = m.predictors ? m.predictors->bytes() : 0;
  ga.trace = tr;
  ga.fault_hook = fault_hook;
  m.gpu = actors::spawn_gpu_worker(*m.sys, std::move(ga));
  actors::PredictorArgs pa;
  pa.weights = m.weights;
  pa.mode = m.predictor_mode;
  pa.sparse = sparse;
  pa.sparse_dense_crossover = crossover;
  pa.thresholds = m.thresholds;
  pa.predictors = m.predictors;
  pa.check_truth = m.options.check_recall;
  pa.threads = m.options.predictor_threads > 0 ? m.options.predictor_threads : default_thread_count(m.options.engine.n_threads);
  pa.max_batch = m.options.engine.max_batch;
  pa.exact_activations = m.options.engine.exact_activations;
  pa.batch_invariant = m.options.engine.batch_invariant;
  pa.trace = tr;
  if (m.active_source == actors::ActiveSource::Predictor) {
    actors::check_predictor_args(pa);  // before spawning: a clear error, not a dead actor
    m.predictor = actors::spawn_predictor(*m.sys, std::move(pa));
  }
  m.merge = actors::spawn_merge(*m.sys, {c.d_model, tr});
  for (size_t i = 0; i < m.options.teams.size(); ++i) {
    const TeamConfig& t = m.options.teams[i];
    std::vector<int> pus = t.pus;
    if (pus.empty() && !m.topo->is_synthetic() && m.topo->numa_nodes().size() > 1) pus = topology::pus_of_node(*m.topo, t.numa_node);
    int threads = t.threads > 0 ? t.threads
                                : std::max<int>(1, static_cast<int>((t.pus.empty() ? topology::pus_of_node(*m.topo, t.numa_node) : t.pus).size()));
    // A synthetic topology's PUs need not exist (pack:64 core:64 pu:16 has 65536): one thread
    // each would swamp the machine. Its teams share the machine's real PUs instead.
    if (t.threads <= 0 && m.topo->is_synthetic()) threads = synthetic_team_threads(threads, n_teams);
    m.cpu.push_back(actors::spawn_cpu_worker(*m.sys, {static_cast<int>(i) + 1, m.weights, m.shards[i], m.split, threads, pus, m.topo,
                                                      m.options.engine.max_batch, m.options.engine.exact_activations,
                                                      m.options.engine.batch_invariant, tr, fault_hook}));
  }
  const protocol::Wiring wiring{m.gpu, m.predictor, m.merge, m.cpu};
  caf::anon_send(m.gpu, wiring);
  caf::anon_send(m.merge, wiring);
  for (const auto& c : m.cpu) caf::anon_send(c, wiring);
}

ActorRuntime::~ActorRuntime() = default;  // Impl's destructor shuts the actors down

const ModelConfig& ActorRuntime::config() const { return impl_->weights->config(); }
int ActorRuntime::n_ctx() const { return impl_->n_ctx; }
int ActorRuntime::n_slots() const { return static_cast<int>(impl_->n_past.size()); }
int ActorRuntime::max_step_tokens() const { return impl_->options.engine.max_batch; }
int ActorRuntime::n_past() const { return impl_->n_past[0]; }
void ActorRuntime::rewind(int n) { rewind(0, n); }

int ActorRuntime::n_past(int slot) const {
  if (slot < 0 || slot >= n_slots()) throw std::out_of_range("slot " + std::to_string(slot) + " outside 0.." + std::to_string(n_slots() - 1));
  return impl_->n_past[static_cast<size_t>(slot)];
}

void ActorRuntime::rewind(int slot, int n) {
  const int past = n_past(slot);
  if (n < 0 || n > past)
    throw std::out_of_range("cannot rewind " + (n_slots() > 1 ? "slot " + std::to_string(slot) + " " : std::string()) + "to position " +
                            std::to_string(n) + " of " + std::to_string(past));
  impl_->n_past[static_cast<size_t>(slot)] = n;
}

std::span<const float> ActorRuntime::logits(int i) const {
  const Impl& m = *impl_;
  if (m.n_logits == 0) throw std::logic_error("no logits: nothing evaluated yet");
  if (i < 0) i += m.n_logits;
  if (i < 0 || i >= m.n_logits) throw std::out_of_range("logits index " + std::to_string(i) + " of " + std::to_string(m.n_logits));
  const size_t nv = static_cast<size_t>(config().n_vocab);
  for (const Impl::LogitRows& part : m.logits) {
    const int rows = part.tensor->n_tokens - part.first;
    if (i < rows) return {part.tensor->row(part.first + i), nv};
    i -= rows;
  }
  throw std::logic_error("logits index past the replies kept");  // n_logits counts their rows
}

void ActorRuntime::Impl::run_step(protocol::EvalRequest req, int first_kept) {
  Impl& m = *this;
  if (!m.driver) m.driver = std::make_unique<caf::scoped_actor>(*m.sys);
  caf::scoped_actor& self = *m.driver;
  const size_t nv = static_cast<size_t>(m.weights->config().n_vocab);
  auto scope = m.driver_trace.scope("forward", -1, req.first_position());
  const int64_t start_ns = trace::now_ns();
  const std::vector<StepSequence> sequences = m.options.tracing() ? req.sequences : std::vector<StepSequence>{};
  std::string failure;
  self->request(m.gpu, caf::infinite, std::move(req))
      .receive(
          [&](const protocol::LogitsReply& r) {
            if (first_kept < 0 || !r.logits || static_cast<size_t>(r.logits->width) != nv || first_kept >= r.logits->n_tokens) return;
            m.n_logits += r.logits->n_tokens - first_kept;
            m.logits.push_back({r.logits, first_kept});
          },
          [&](caf::error& e) { failure = m.sys->render(e); });
  // One track per slot: each step of its sequence (token: the step's first position).
  for (const StepSequence& q : sequences)
    m.slot_traces[static_cast<size_t>(q.slot)].record(
        trace::Span{q.n_tokens > 1 ? "prompt" : "decode", trace::SpanKind::Compute, -1, q.pos0, start_ns, trace::now_ns(), 0});
  if (!failure.empty()) throw std::runtime_error("actor runtime: forward step failed: " + failure);
}

void ActorRuntime::eval(std::span<const int32_t> tokens, bool all_logits) {
  Impl& m = *impl_;
  int& past = m.n_past[0];
  check_eval(tokens, config(), past, m.n_ctx);
  // Released before the request, so the gpu-worker may reuse the buffer for this step.
  m.n_logits = 0;
  m.logits.clear();
  const size_t B = static_cast<size_t>(m.options.engine.max_batch);
  for (size_t off = 0; off < tokens.size(); off += B) {
    const int n = static_cast<int>(std::min(tokens.size() - off, B));
    const bool last = off + static_cast<size_t>(n) == tokens.size();
    protocol::EvalRequest req{++m.step, std::vector<int32_t>(tokens.begin() + off, tokens.begin() + off + n), {StepSequence{0, past, n}}, all_logits};
    m.run_step(std::move(req), all_logits ? 0 : last ? 0 : -1);
    past += n;
  }
}

void ActorRuntime::eval(std::span<const SequenceChunk> chunks) {
  Impl& m = *impl_;
  protocol::EvalRequest req;
  req.step = m.step + 1;
  req.tokens.reserve(static_cast<size_t>(check_step(chunks)));
  for (const SequenceChunk& ch : chunks) {
    req.tokens.insert(req.tokens.end(), ch.tokens.begin(), ch.tokens.end());
    req.sequences.push_back({ch.slot, m.n_past[static_cast<size_t>(ch.slot)], static_cast<int>(ch.tokens.size())});
  }
  m.n_logits = 0;
  m.logits.clear();
  ++m.step;
  m.run_step(std::move(req), 0);
  for (const SequenceChunk& ch : chunks) m.n_past[static_cast<size_t>(ch.slot)] += static_cast<int>(ch.tokens.size());
}

void ActorRuntime::write_trace(const std::filesystem::path& path) {
  Impl& m = *impl_;
  if (!m.options.tracing()) throw std::logic_error("tracing was not enabled for this runtime");
  std::vector<trace::TraceBuffer> buffers = {m.driver_trace};
  for (const trace::TraceBuffer& t : m.slot_traces)
    if (!t.spans().empty()) buffers.push_back(t);
  caf::scoped_actor self{*m.sys};
  m.for_each_actor([&](const auto& a) {
    self->request(a, caf::infinite, protocol::CollectTrace{})
        .receive(
            [&](const protocol::TraceHandoff& h) {
              trace::TraceBuffer b(h.actor, h.role, true, h.spans.size());
              for (const trace::Span& span : h.spans) b.record(span);
              buffers.push_back(std::move(b));
            },
            [&](caf::error& e) { throw std::runtime_error("collecting a trace failed: " + m.sys->render(e)); });
  });
  trace::write_chrome_trace(path, buffers);
}

std::string ActorRuntime::describe() const {
  const Impl& m = *impl_;
  std::ostringstream o;
  const auto& c = config();
  o << "actor runtime: " << c.n_layers << " layers, " << c.d_ff << " FFN neurons per layer, " << (m.options.sparse ? "sparse" : "dense")
    << " FFN kernels, predictor " << to_string(m.predictor_mode)
    << (m.predictors ? " (" + std::to_string(m.predictors->bytes() >> 10) + " KiB" + (m.active_source == actors::ActiveSource::Backend ? ", run by the gpu-worker)" : ")") : std::string())
    << ", scheduler " << to_string(m.options.scheduler_policy) << " x" << m.options.scheduler_threads << "\n";
  o << "  gpu-worker (" << m.backend_name
    << (m.host_pus.empty() ? std::string() : ", pinned to cores " + format_cpu_list(m.host_pus)) << "): attention, lm_head, hot neurons " << m.split->n_hot() << " of " << int64_t{c.n_layers} * c.d_ff
    << (m.options.placement.empty() ? "" : " (placement " + m.options.placement + ")") << "; holds " << m.footprint.describe()
    << (m.options.vram_budget ? " of a " + std::to_string(m.options.vram_budget >> 20) + " MiB budget" : "") << "\n";
  for (size_t i = 0; i < m.shards.size(); ++i)
    o << "  cpu-worker-" << i + 1 << ": cold neurons of [" << m.split->team_ranges[i].begin << ", " << m.split->team_ranges[i].end << ") on NUMA node "
      << m.options.teams[i].numa_node << ", " << (m.options.teams[i].threads > 0 ? std::to_string(m.options.teams[i].threads) : std::string("per-core")) << " threads, "
      << m.shards[i]->bytes() / 1e6 << " MB "
      << (m.shards[i]->n_neurons() == 0 ? "(no cold neurons)" : m.shards[i]->node_bound() ? "node-local" : "unbound: " + m.shards[i]->warning())
      << "\n";
  return o.str();
}

protocol::PredictorStats ActorRuntime::predictor_stats(bool reset) {
  Impl& m = *impl_;
  protocol::PredictorStats out;
  caf::scoped_actor self{*m.sys};
  // The gpu-worker counts the active sets it makes and every FFN weight byte read; the
  // predictor actor (when there is one) the sets it predicts.
  self->request(m.gpu, caf::infinite, protocol::CollectStats{reset})
      .receive([&](const protocol::PredictorStats& s) { out = s; },
               [&](caf::error& e) { throw std::runtime_error("collecting gpu-worker stats failed: " + m.sys->render(e)); });
  if (m.predictor)
    self->request(m.predictor, caf::infinite, protocol::CollectStats{reset})
        .receive([&](const protocol::PredictorStats& s) { out += s; },
                 [&](caf::error& e) { throw std::runtime_error("collecting predictor stats failed: " + m.sys->render(e)); });
  return out;
}

PredictorMode ActorRuntime::predictor_mode() const { return impl_->predictor_mode; }
bool ActorRuntime::sparse() const { return impl_->options.sparse; }

uint64_t ActorRuntime::fixed_bytes_per_token() const {
  const Impl& m = *impl_;
  const std::vector<int64_t> none(static_cast<size_t>(config().n_layers), 0);
  const DeviceFootprint f = device_footprint(*m.weights, none, 0, false);
  return f.attention + f.lm_head;
}

uint64_t ActorRuntime::predictor_bytes_per_token() const {
  const Impl& m = *impl_;
  const ModelConfig& c = config();
  if (m.predictor_mode == PredictorMode::trained) return m.predictors->bytes();
  if (m.predictor_mode != PredictorMode::threshold) return 0;  // all, oracle: the FFN's own gate pass decides
  // ffn_neuron_activity: the gate (ReLU), gate and up (others).
  uint64_t bytes = 0;
  for (const LayerWeights& L : m.weights->layers())
    bytes += c.gated_ffn ? L.gate.bytes() + (c.activation == Activation::ReLU ? 0 : L.up.bytes()) : L.up.bytes();
  return bytes;
}


}  // namespace actinfer
