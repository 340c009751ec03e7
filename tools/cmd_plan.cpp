// `actinfer plan`: the placement step (placement/planner.h). From a model, its
// activation profile (`actinfer profile`) and a VRAM budget, chooses the hot
// FFN neurons the gpu-worker holds and writes them as a placement file
// (model/placement.h) for `run --set actinfer.placement=...`.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "config/deployment_config.h"
#include "placement/planner.h"
#include "engine/neuron_predictor.h"
#include "model/placement.h"
#include "model/profile_file.h"
#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/model_options.h"

namespace actinfer::tools {
namespace {

struct PlanCliOptions {
  ModelOptions model;
  std::string profile_path;
  std::string budget;
  std::string out_path;
  int block = 1;
  bool sparse = false;
  std::string predictors;
};

std::string mib(uint64_t b) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f MiB", static_cast<double>(b) / (1 << 20));
  return text;
}

void run_plan(const PlanCliOptions& o) {
  uint64_t budget = 0;
  try {
    budget = parse_byte_size(o.budget);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("--vram-budget: ") + e.what());
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(o.profile_path, ec))
    throw std::runtime_error("profile file '" + o.profile_path + "' not found (`actinfer profile` writes one)");
  auto weights = o.model.load_weights();
  const ModelConfig& c = weights->config();
  const ActivationProfile profile = load_profile(o.profile_path, c);
  PlanOptions po;
  po.vram_budget = budget;
  po.n_ctx = o.model.n_ctx;
  po.block = o.block;
  po.sparse = o.sparse;
  po.cache_type = o.model.engine_options().cache_type;
  if (!o.predictors.empty()) po.predictor_bytes = NeuronPredictors::load(o.predictors, c).bytes();
  const Plan plan = plan_placement(*weights, profile, po);
  const int n_ctx = std::min(o.model.n_ctx, c.n_ctx_train);

  const DeviceFootprint& f = plan.footprint;
  std::printf("VRAM budget %s (%s)\n", mib(budget).c_str(), o.budget.c_str());
  std::printf("  attention + norms  %12s\n", mib(f.attention).c_str());
  std::printf("  lm_head            %12s\n", mib(f.lm_head).c_str());
  std::printf("  KV cache           %12s (ctx %d, %s)\n", mib(f.kv_cache).c_str(), n_ctx, kv_cache_type_name(po.cache_type));
  std::printf("  fixed parts        %12s\n", mib(plan.fixed_bytes).c_str());
  std::printf("  FFN share          %12s (uses %s, %s unused)\n", mib(plan.ffn_budget).c_str(), mib(f.hot_ffn).c_str(),
              mib(plan.ffn_budget - f.hot_ffn).c_str());
  std::printf("layer  hot neurons  of layer  firings served\n");
  for (int l = 0; l < c.n_layers; ++l) {
    const size_t L = static_cast<size_t>(l);
    uint64_t all = 0, hot = 0;
    for (int i = 0; i < c.d_ff; ++i) {
      const uint64_t x = profile.fired[L][static_cast<size_t>(i)];
      all += x;
      if (plan.placement.hot[L][static_cast<size_t>(i)]) hot += x;
    }
    std::printf("%5d  %11lld  %7.1f%%  %13.1f%%\n", l, static_cast<long long>(plan.hot_per_layer[L]),
                100.0 * static_cast<double>(plan.hot_per_layer[L]) / c.d_ff, all ? 100.0 * static_cast<double>(hot) / static_cast<double>(all) : 0.0);
  }
  const int64_t n_hot = plan.placement.n_hot(), n_all = static_cast<int64_t>(c.n_layers) * c.d_ff;
  std::printf("plan: %lld of %lld FFN neurons hot (%.1f%%), block %d; expected %.1f%% of activations served by the gpu-worker; "
              "device footprint %s\n",
              static_cast<long long>(n_hot), static_cast<long long>(n_all), 100.0 * static_cast<double>(n_hot) / static_cast<double>(n_all),
              o.block, 100.0 * plan.served_fraction, f.describe().c_str());
  write_placement(o.out_path, c, plan.placement);
  std::printf("wrote %s\n", o.out_path.c_str());
  std::fflush(stdout);
}

}  // namespace

void register_plan(CLI::App& app) {
  auto o = std::make_shared<PlanCliOptions>();
  CLI::App* cmd = app.add_subcommand("plan", "choose the hot FFN neurons for a VRAM budget from an activation profile; write a placement file");
  o->model.add_to(*cmd);
  cmd->add_option("--profile", o->profile_path, "activation profile (written by `actinfer profile`)")->required();
  cmd->add_option("--vram-budget", o->budget, "bytes the gpu-worker may hold, e.g. 8GiB, 512MiB")->required();
  cmd->add_option("-o,--output", o->out_path, "placement file to write (GGUF)")->required();
  cmd->add_option("--block", o->block, "neurons per placement unit")->check(at_least(1))->capture_default_str();
  cmd->add_flag("--sparse", o->sparse, "plan for the sparse runtime: hot neurons held as neuron bundles (bigger records for quantized models)");
  cmd->add_option("--predictors", o->predictors, "trained predictor file: its bytes count against the budget");
  cmd->callback([o] { run_plan(*o); });
}

}  // namespace actinfer::tools
