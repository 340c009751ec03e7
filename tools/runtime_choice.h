// Options that choose and lay out the runtime (--runtime, --config, --set,
// --trace) for `run` and `bench`, and building the Evaluator they describe.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/deployment_config.h"
#include "engine/evaluator.h"
#include "tools/model_options.h"

namespace CLI { class App; }

namespace actinfer::tools {

struct RuntimeChoice {
  std::string runtime;      // actors | dense; empty: the config's (default actors)
  std::string config_path;  // deployment config; empty: built-in defaults
  std::vector<std::string> sets;  // "key=value" overrides of the config
  std::string trace;        // Chrome trace path (actors only)
  bool verbose = false;
  // Sparsity shortcuts for the config keys of the same names (they win over the config).
  bool sparse = false;
  std::string predictor, predictors, profile, placement;
  bool check_recall = false;

  void add_to(CLI::App& cmd, bool with_trace);
  DeploymentConfig load() const;
  // The evaluator for `runtime` (or the config's), with model options applied.
  std::unique_ptr<Evaluator> make(std::shared_ptr<const ModelWeights> weights, const ModelOptions& model,
                                  const std::string& runtime_override = "") const;
};

// Writes the trace when the evaluator is the actor runtime and a path was given.
void finish_trace(Evaluator& evaluator, const std::string& path);

}  // namespace actinfer::tools
