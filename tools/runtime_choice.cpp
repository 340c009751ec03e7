#include "tools/runtime_choice.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "actors/actor_runtime.h"
#include "engine/batched_dense_engine.h"
#include "engine/dense_engine.h"
#include "tools/cli_support.h"

namespace actinfer::tools {

void RuntimeChoice::add_to(CLI::App& cmd, bool with_trace) {
  command = &cmd;
  cmd.add_option("--runtime", runtime, "actors (CAF actor runtime) or dense (reference engine) (actinfer.runtime)")
      ->check(CLI::IsMember({"actors", "dense"}));
  cmd.add_option("--config", config_path,
                 "deployment config (configs/README.md); without it: $ACTINFER_CONFIG, "
                 "~/.config/actinfer/actinfer.conf, then the project's configs/default.conf");
  cmd.add_flag("--no-config", no_config, "use the built-in defaults, not a config file")->excludes("--config");
  cmd.add_option("--set", sets, "override a config key, e.g. --set actinfer.hot-fraction=0.5 (repeatable; flags win over it)");
  if (with_trace) cmd.add_option("--trace", trace, "write a Chrome trace (Perfetto) of the actor runtime to this file (actinfer.trace)");
  cmd.add_flag("-v,--verbose", verbose, "print the deployment in use (after config, --set and flags) and the actor layout");
  cmd.add_flag("--sparse", sparse, "sparse FFN kernels: compute only the neurons the predictor selects (actinfer.sparse)");
  cmd.add_option("--predictor", predictor, "auto, oracle, threshold, trained or all (actinfer.predictor)")
      ->check(CLI::IsMember({"auto", "oracle", "threshold", "trained", "all"}));
  cmd.add_option("--predictors", predictors, "trained predictor file from `actinfer train-predictor` (actinfer.predictors)");
  cmd.add_option("--profile", profile, "profile file from `actinfer profile`: per-layer thresholds (actinfer.profile)");
  cmd.add_option("--placement", placement, "placement file from `actinfer plan`: hot neurons per layer (actinfer.placement)");
  cmd.add_flag("--check-recall", check_recall, "also compute the true active sets to report the predictor's recall (actinfer.check-recall)");
}

std::vector<FlagSetting> RuntimeChoice::flag_settings() const {
  std::vector<FlagSetting> f;
  // -t and -c belong to ModelOptions (every model command has them); here they count only
  // when given, so that the config's host-threads and ctx stay otherwise.
  if (command) {
    if (const CLI::Option* t = command->get_option_no_throw("--threads"); t && t->count() > 0)
      f.push_back({"-t", "actinfer.host-threads", t->as<std::string>()});
    if (const CLI::Option* c = command->get_option_no_throw("--ctx"); c && c->count() > 0)
      f.push_back({"--ctx", "actinfer.ctx", c->as<std::string>()});
    if (const CLI::Option* k = command->get_option_no_throw("--cache-type"); k && k->count() > 0)
      f.push_back({"--cache-type", "actinfer.cache-type", k->as<std::string>()});
    if (const CLI::Option* m = command->get_option_no_throw("--no-mmap"); m && m->count() > 0)
      f.push_back({"--no-mmap", "actinfer.mmap", "false"});
  }
  if (!runtime.empty()) f.push_back({"--runtime", "actinfer.runtime", runtime});
  if (!trace.empty()) f.push_back({"--trace", "actinfer.trace", trace});
  if (sparse) f.push_back({"--sparse", "actinfer.sparse", "true"});
  if (!predictors.empty()) f.push_back({"--predictors", "actinfer.predictors", predictors});
  if (!predictor.empty())
    f.push_back({"--predictor", "actinfer.predictor", predictor});
  else if (!predictors.empty())
    f.push_back({"--predictors", "actinfer.predictor", "trained"});  // giving a predictor file asks for it
  if (!profile.empty()) f.push_back({"--profile", "actinfer.profile", profile});
  if (!placement.empty()) f.push_back({"--placement", "actinfer.placement", placement});
  if (check_recall) f.push_back({"--check-recall", "actinfer.check-recall", "true"});
  return f;
}

std::optional<std::filesystem::path> RuntimeChoice::config_file() const {
  if (!config_path.empty()) return std::filesystem::path(config_path);
  if (no_config) return std::nullopt;
  return find_config(ConfigSearch::from_environment(ACTINFER_DEFAULT_CONFIG));
}

DeploymentConfig RuntimeChoice::load() const {
  const auto file = config_file();
  return file ? load_deployment_config(*file, sets, flag_settings())
              : parse_deployment_config("", "built-in defaults", sets, flag_settings());
}

std::shared_ptr<const ModelWeights> RuntimeChoice::load_weights(const DeploymentConfig& config, const ModelOptions& model) const {
  auto weights = model.load_weights(config.mmap ? FileMemory::mapped : FileMemory::huge_pages);
  if (verbose) {
    const GgufFile& f = weights->file();
    std::fprintf(stderr, "[actinfer] model %s: %.1f MiB %s\n", model.model_path.c_str(), static_cast<double>(f.size_bytes()) / (1 << 20),
                 f.memory() == FileMemory::mapped ? "mapped from the file" : "read into huge pages");
  }
  return weights;
}

std::unique_ptr<Evaluator> RuntimeChoice::make(DeploymentConfig c, std::shared_ptr<const ModelWeights> weights, const ModelOptions& model,
                                               const std::string& runtime_override, int min_ctx, const std::string& min_ctx_for) const {
  const int trained = weights->config().n_ctx_train;
  if (c.ctx_origin.kind == SettingOrigin::Kind::built_in && c.engine.n_ctx > trained)
    c.ctx_origin.where = "the built-in default " + std::to_string(c.engine.n_ctx) + ", lowered to the model's trained context";
  c.engine.n_ctx = fit_context(c.engine.n_ctx, c.ctx_origin, trained, model.model_path);
  if (min_ctx > trained)
    throw UsageError((min_ctx_for.empty() ? std::string("this command") : min_ctx_for) + " needs a context of " + std::to_string(min_ctx) +
                     " tokens, more than the " + std::to_string(trained) + " tokens " + model.model_path +
                     " was trained on (no RoPE scaling yet)");
  if (runtime_override == "dense") c.runtime = Runtime::dense;
  if (runtime_override == "actors") c.runtime = Runtime::actors;
  c.engine.max_batch = model.prompt_batch(*weights);
  if (model.threads > 0) c.engine.n_threads = model.threads;  // bench's -t sweep sets it per run
  c.engine.n_ctx = std::max(c.engine.n_ctx, min_ctx);
  c.batch = 1;  // one sequence: no KV cache for other slots
  if (verbose) std::fprintf(stderr, "[actinfer] deployment in use:\n%s\n", describe(c).c_str());
  if (c.runtime == Runtime::dense) return std::make_unique<DenseEngine>(std::move(weights), c.engine);
  auto rt = std::make_unique<ActorRuntime>(std::move(weights), std::move(c));
  if (verbose) std::fprintf(stderr, "[actinfer] %s\n", rt->describe().c_str());
  return rt;
}

std::unique_ptr<BatchEvaluator> RuntimeChoice::make_batch(DeploymentConfig c, std::shared_ptr<const ModelWeights> weights,
                                                         const ModelOptions& model, int n_slots, int default_total_ctx) const {
  if (n_slots > 0) c.batch = n_slots;
  if (c.ctx_origin.kind == SettingOrigin::Kind::built_in) {
    c.engine.n_ctx = default_total_ctx;
    c.ctx_origin.where = "serve's default total context " + std::to_string(default_total_ctx);
  }
  if (c.engine.n_ctx < c.batch)
    throw UsageError("ctx " + std::to_string(c.engine.n_ctx) + " (" + c.ctx_origin.where + ") leaves no context for " + std::to_string(c.batch) +
                     " slots");
  const int trained = weights->config().n_ctx_train;
  SettingOrigin per_slot = c.ctx_origin;
  if (per_slot.kind == SettingOrigin::Kind::built_in) per_slot.where = "the default ctx / " + std::to_string(c.batch) + " slots";
  c.engine.n_ctx = fit_context(c.engine.n_ctx / c.batch, per_slot, trained, model.model_path);
  c.engine.max_batch = model.batch;
  c.engine.batch_invariant = true;
  if (model.threads > 0) c.engine.n_threads = model.threads;
  if (verbose) std::fprintf(stderr, "[actinfer] deployment in use:\n%s\n", describe(c).c_str());
  if (c.runtime == Runtime::dense) return std::make_unique<BatchedDenseEngine>(std::move(weights), c.engine, c.batch);
  auto rt = std::make_unique<ActorRuntime>(std::move(weights), std::move(c));
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
