// The actor runtime: spawns the gpu-worker, CPU-worker teams, predictor and merge
// actors on CAF and drives one forward step per eval(). It is an Evaluator (one
// sequence, in slot 0: run, chat, bench, perplexity) and a BatchEvaluator (options.batch
// slots advanced together: serve), both through the same EvalRequest, which carries
// the step's sequences. CAF stays inside the .cpp: includers see only this interface.
#pragma once
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "actors/fault_hook.h"
#include "config/deployment_config.h"
#include "engine/batch_evaluator.h"
#include "engine/evaluator.h"
#include "protocol/predictor_stats.h"
#include "model/model_weights.h"

namespace actinfer {

// Threads of a team on a synthetic topology whose node lists topology_pus PUs: no more
// than the machine's real PUs shared among n_teams (at least 1).
int synthetic_team_threads(int topology_pus, int n_teams);

class ActorRuntime final : public Evaluator, public BatchEvaluator {
 public:
  // options.batch: sequence slots, each with a KV cache of options.engine.n_ctx positions
  // (the host backend makes a slot's cache on its first use).
  // Throws std::invalid_argument naming the bad option (team node absent, fraction...).
  // fault_hook: tests only, injects failures (actors/fault_hook.h).
  ActorRuntime(std::shared_ptr<const ModelWeights> weights, DeploymentConfig options, FaultHook fault_hook = {});
  ~ActorRuntime() override;

  const ModelConfig& config() const override;
  int n_ctx() const override;  // positions per slot
  // Row i of the last step's logits: as an Evaluator the i-th token kept (-1: the last),
  // as a BatchEvaluator chunk i's last token (one row per chunk).
  std::span<const float> logits(int i = -1) const override;

  // Evaluator: slot 0.
  void eval(std::span<const int32_t> tokens, bool all_logits) override;
  int n_past() const override;
  void rewind(int n) override;

  // BatchEvaluator: every slot.
  int n_slots() const override;
  int max_step_tokens() const override;
  int n_past(int slot) const override;
  void rewind(int slot, int n) override;
  void eval(std::span<const SequenceChunk> chunks) override;

  // Collects every actor's spans and writes a Chrome trace (needs options.trace).
  void write_trace(const std::filesystem::path& path);
  // One line per actor: what it computes and where.
  std::string describe() const;
  // The predictor's counts since the last reset (and reset them when asked).
  protocol::PredictorStats predictor_stats(bool reset = false);
  // The predictor mode in use (auto resolved) and whether the kernels are sparse.
  PredictorMode predictor_mode() const;
  bool sparse() const;
  // Weight bytes every token reads outside the FFN: attention and lm_head. (The FFN's
  // bytes are counted by the workers: PredictorStats::ffn_weight_bytes.)
  uint64_t fixed_bytes_per_token() const;
  // What predicting reads per token: trained: the predictors' weights; threshold: the
  // gate (ReLU), gate and up (others); all, oracle: nothing (no prediction).
  uint64_t predictor_bytes_per_token() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace actinfer
