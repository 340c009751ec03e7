// The command-line side of the deployment config (config/deployment_config.h) for `run`,
// `bench` and `perplexity`: --config (or the config found without it), --set overrides,
// and the flags that set config keys (-t, -c, --runtime, --trace, --sparse, --predictor,
// ...). load() applies them in one place, in one order: built-in defaults < config file <
// --set < explicit flags. A flag counts only when given, so a flag's default never hides
// the file's value.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/deployment_config.h"
#include "engine/batch_evaluator.h"
#include "engine/evaluator.h"
#include "tools/model_options.h"

namespace CLI { class App; }

namespace actinfer::tools {

struct RuntimeChoice {
  std::string config_path;        // --config; empty: find_config()'s, or none with --no-config
  bool no_config = false;
  std::vector<std::string> sets;  // "key=value" overrides of the config
  bool verbose = false;
  // Flags that set config keys, each applied only when given.
  std::string runtime;  // actinfer.runtime
  std::string trace;    // actinfer.trace
  bool sparse = false;  // actinfer.sparse
  std::string predictor, predictors, profile, placement;
  bool check_recall = false;
  const CLI::App* command = nullptr;  // to ask whether -t and -c were given

  void add_to(CLI::App& cmd, bool with_trace);
  // The explicit flags as config keys, in the order they are applied.
  std::vector<FlagSetting> flag_settings() const;
  // The config file in use: --config, else find_config() (unless --no-config).
  std::optional<std::filesystem::path> config_file() const;
  // The deployment in use. A command reads it once, before the model (a bad config fails
  // before gigabytes are read), and hands it to the calls below.
  DeploymentConfig load() const;
  // The model (model.load_weights) read as the config's mmap key says (--no-mmap wins).
  std::shared_ptr<const ModelWeights> load_weights(const DeploymentConfig& config, const ModelOptions& model) const;
  // The evaluator for `runtime_override` ("actors" or "dense"), else the config's runtime;
  // -b from `model` sets the prompt batch. The ctx, from whichever source won, is checked
  // against the model's trained context here (fit_context: refused above it, naming the
  // source). `min_ctx`: the context the command needs (bench: prompt + generated tokens,
  // perplexity: one chunk), `min_ctx_for` says what for; a smaller ctx is raised to it, and
  // one above the trained context is refused.
  std::unique_ptr<Evaluator> make(DeploymentConfig config, std::shared_ptr<const ModelWeights> weights, const ModelOptions& model,
                                  const std::string& runtime_override = "", int min_ctx = 0,
                                  const std::string& min_ctx_for = "") const;
  // serve's runtime: n_slots sequence slots (0: the config's actinfer.batch) sharing the
  // context as llama-server's -c and -np do: each slot gets ctx / n_slots positions (ctx:
  // --ctx, the config's, else `default_total_ctx`), refused above the trained context. The
  // steps are batch-invariant: a sequence's bits do not depend on its neighbours.
  std::unique_ptr<BatchEvaluator> make_batch(DeploymentConfig config, std::shared_ptr<const ModelWeights> weights, const ModelOptions& model,
                                             int n_slots, int default_total_ctx) const;
};

// Writes the trace when the evaluator is the actor runtime and a path was given.
void finish_trace(Evaluator& evaluator, const std::string& path);

}  // namespace actinfer::tools
