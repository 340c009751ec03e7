#include "tools/runtime_choice.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <stdexcept>

#include "actors/actor_runtime.h"
#include "config/runtime_options.h"
#include "engine/dense_engine.h"

namespace actinfer::tools {

void RuntimeChoice::add_to(CLI::App& cmd, bool with_trace) {
  cmd.add_option("--runtime", runtime, "actors (CAF actor runtime) or dense (reference engine); default: the config's, else actors")
      ->check(CLI::IsMember({"actors", "dense"}));
  cmd.add_option("--config", config_path, "deployment config (CAF config format, see configs/README.md)");
  cmd.add_option("--set", sets, "override a config key, e.g. --set actinfer.hot-fraction=0.5 (repeatable)");
  if (with_trace) cmd.add_option("--trace", trace, "write a Chrome trace (Perfetto) of the actor runtime to this file");
  cmd.add_flag("-v,--verbose", verbose, "print the deployment and the actor layout");
  cmd.add_flag("--sparse", sparse, "sparse FFN kernels: compute only the neurons the predictor selects (actinfer.sparse)");
  cmd.add_option("--predictor", predictor, "auto, oracle, threshold, trained or all (actinfer.predictor)")
      ->check(CLI::IsMember({"auto", "oracle", "threshold", "trained", "all"}));
  cmd.add_option("--predictors", predictors, "trained predictor file from `actinfer train-predictor` (actinfer.predictors)");
  cmd.add_option("--profile", profile, "profile file from `actinfer profile`: per-layer thresholds (actinfer.profile)");
  cmd.add_option("--placement", placement, "placement file from `actinfer plan`: hot neurons per layer (actinfer.placement)");
  cmd.add_flag("--check-recall", check_recall, "also compute the true active sets to report the predictor's recall (actinfer.check-recall)");
}

DeploymentConfig RuntimeChoice::load() const {
  DeploymentConfig c = config_path.empty() ? parse_deployment_config("", "built-in defaults", sets)
                                           : load_deployment_config(config_path, sets);
  if (!trace.empty()) c.trace = trace;
  if (sparse) c.sparse = true;
  if (!predictors.empty()) c.predictors = predictors;
  if (!predictor.empty()) c.predictor = predictor;
  else if (!predictors.empty()) c.predictor = "trained";  // giving a predictor file asks for it
  if (!profile.empty()) c.profile = profile;
  if (!placement.empty()) c.placement = placement;
  if (check_recall) c.check_recall = true;
  return c;
}

std::unique_ptr<Evaluator> RuntimeChoice::make(std::shared_ptr<const ModelWeights> weights, const ModelOptions& model,
                                               const std::string& runtime_override) const {
  const DeploymentConfig c = load();
  const std::string which = !runtime_override.empty() ? runtime_override : !runtime.empty() ? runtime : c.runtime;
  EngineOptions engine = model.engine_options();
  if (verbose) std::fprintf(stderr, "[actinfer] deployment (%s):\n%s\n", c.source.c_str(), describe(c).c_str());
  if (which == "dense") return std::make_unique<DenseEngine>(std::move(weights), engine);
  auto rt = std::make_unique<ActorRuntime>(std::move(weights), runtime_options_from(c, engine));
  if (verbose) std::fprintf(stderr, "[actinfer] %s\n", rt->describe().c_str());
  return rt;
}

void finish_trace(Evaluator& evaluator, const std::string& path) {
  if (path.empty()) return;
  auto* rt = dynamic_cast<ActorRuntime*>(&evaluator);
  if (!rt) {
    std::fprintf(stderr, "[actinfer] --trace needs the actor runtime; no trace written\n");
    return;
  }
  rt->write_trace(path);
  std::fprintf(stderr, "[actinfer] trace written to %s (open in Perfetto, or run `actinfer trace %s`)\n", path.c_str(), path.c_str());
}

}  // namespace actinfer::tools
