// `actinfer profile`: how often each FFN neuron fires over a calibration text
// (engine/profiler.h), written as a GGUF side file (model/profile_file.h) for
// the planning step. Non-ReLU models get per-layer thresholds on |activation|
// calibrated to --sparsity (a first pass over the text; --allocate sensitivity,
// the default, shares it between layers by a sweep of what each layer's sparsity
// costs in NLL on the first --allocate-tokens tokens), then the counts (a last
// pass). tools/make_calibration_text.sh writes the standard text.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>

#include "engine/profiler.h"
#include "engine/sparsity_allocation.h"
#include "model/profile_file.h"
#include "model/tokenizer.h"
#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/model_options.h"
#include "tools/progress_bar.h"
#include "tools/text_input.h"

namespace actinfer::tools {
namespace {

struct ProfileCliOptions {
  ModelOptions model;
  std::string text_path;
  std::string out_path;
  long long max_tokens = 0;  // 0: all
  double sparsity = 0.5;
  std::string allocate = "sensitivity";
  long long allocate_tokens = 2048;
  std::string allocate_metric = "kl";
  std::vector<double> allocate_levels = ProfileOptions{}.sweep_levels;
};

// The sweep per layer and level, and what the chosen levels cost by each metric
// against uniform levels (sums of single-layer costs, as the allocation assumes).
void print_allocation(const ActivationProfile& p, SensitivityMetric metric, double sweep_secs) {
  std::printf("sensitivity sweep: %d chunks, %lld tokens scored, dense NLL %.4f, %.1f s; allocated by %s; levels", p.sweep.n_chunks,
              static_cast<long long>(p.sweep.n_scored), p.sweep.dense_nll, sweep_secs, std::string(metric_name(metric)).c_str());
  for (double s : p.sweep_levels) std::printf(" %g", s);
  std::printf("\nlayer %-*s   %s\n", static_cast<int>(9 * p.sweep_levels.size()), " KL from dense at each level", "NLL rise at each level");
  for (size_t l = 0; l < p.sweep.kl.size(); ++l) {
    std::printf("%5zu ", l);
    for (double v : p.sweep.kl[l]) std::printf(" %8.5f", v);
    std::printf("  ");
    for (double v : p.sweep.delta_nll[l]) std::printf(" %8.5f", v);
    std::printf("\n");
  }
  for (const auto* m : {&p.sweep.kl, &p.sweep.delta_nll}) {
    double chosen = 0, uniform = 0;
    for (size_t l = 0; l < p.layer_targets.size(); ++l) {
      const auto cost = monotone_costs((*m)[l]);
      chosen += interpolate_cost(p.sweep_levels, cost, p.layer_targets[l]);
      uniform += interpolate_cost(p.sweep_levels, cost, p.target_sparsity);
    }
    std::printf("allocation: summed single-layer %s %.4f (uniform %g: %.4f)\n", m == &p.sweep.kl ? "KL" : "NLL rise", chosen,
                p.target_sparsity, uniform);
  }
}

// The engine refuses these too, but without the options' names.
void check_sweep_options(const ProfileCliOptions& o, size_t n_sweep, size_t n_tokens, int n_ctx) {
  if (n_sweep < static_cast<size_t>(n_ctx) || n_ctx < 3)
    throw std::invalid_argument("--allocate sensitivity sweeps whole chunks of --ctx " + std::to_string(n_ctx) + " (at least 3) tokens, but " +
                                std::to_string(n_sweep) + " tokens are given (--allocate-tokens " + std::to_string(o.allocate_tokens) + ", " +
                                std::to_string(n_tokens) + " profiled)");
  const auto& lv = o.allocate_levels;
  for (size_t k = 0; k < lv.size(); ++k)
    if (!(lv[k] > (k ? lv[k - 1] : 0.0) && lv[k] < 1)) throw std::invalid_argument("--allocate-levels must increase strictly within (0, 1)");
  if (lv.empty() || o.sparsity > lv.back())
    throw std::invalid_argument("--sparsity " + std::to_string(o.sparsity) + " is above the largest --allocate-levels level (" +
                                (lv.empty() ? std::string("none") : std::to_string(lv.back())) + "): use --allocate uniform or add a level");
}

void run_profile(const ProfileCliOptions& o) {
  if (!(o.sparsity >= 0 && o.sparsity < 1))
    throw std::invalid_argument("--sparsity must be in [0, 1), got " + std::to_string(o.sparsity));
  const auto allocation = parse_allocation(o.allocate);
  if (!allocation) throw std::invalid_argument("--allocate '" + o.allocate + "' is not uniform or sensitivity");
  const auto metric = parse_metric(o.allocate_metric);
  if (!metric) throw std::invalid_argument("--allocate-metric '" + o.allocate_metric + "' is not kl or nll");
  if (o.allocate_tokens < 1) throw std::invalid_argument("--allocate-tokens must be positive, got " + std::to_string(o.allocate_tokens));
  const std::string text = read_text_file(o.text_path, "tools/make_calibration_text.sh writes the calibration text");
  auto weights = o.model.load_weights();
  const ModelConfig& c = weights->config();
  const Tokenizer tokenizer(tokenizer_data_from_gguf(weights->file()));
  std::vector<int32_t> tokens = tokenize_document(tokenizer, text);
  const size_t n_text = tokens.size();
  if (o.max_tokens > 0 && tokens.size() > static_cast<size_t>(o.max_tokens)) tokens.resize(static_cast<size_t>(o.max_tokens));

  ProfileOptions po;
  po.n_ctx = std::min(o.model.n_ctx, c.n_ctx_train);
  po.n_threads = o.model.threads;
  po.max_batch = o.model.batch;
  po.target_sparsity = o.sparsity;
  po.add_bos = tokenizer.add_bos();
  po.bos = tokenizer.bos();
  po.allocation = *allocation;
  po.allocate_tokens = o.allocate_tokens;
  po.metric = *metric;
  po.sweep_levels = o.allocate_levels;
  const bool relu = c.activation == Activation::ReLU;
  const bool sweep = !relu && *allocation == SparsityAllocation::Sensitivity;
  const size_t n_sweep = std::min(tokens.size(), static_cast<size_t>(o.allocate_tokens));
  if (sweep) check_sweep_options(o, n_sweep, tokens.size(), po.n_ctx);
  char sparsity_note[160];
  if (sweep)
    std::snprintf(sparsity_note, sizeof sparsity_note, "mean sparsity %g shared between layers by sensitivity (%zu tokens swept; three passes)",
                  o.sparsity, n_sweep / static_cast<size_t>(po.n_ctx) * static_cast<size_t>(po.n_ctx));
  else
    std::snprintf(sparsity_note, sizeof sparsity_note, "thresholds calibrated to sparsity %g in every layer (two passes)", o.sparsity);
  const size_t n_chunks = (tokens.size() + static_cast<size_t>(po.n_ctx) - 1) / static_cast<size_t>(po.n_ctx);
  std::fprintf(stderr, "[actinfer] %s: %zu bytes, %zu tokens, profiling %zu; %zu chunks of up to %d; activation %s, %s\n",
               o.text_path.c_str(), text.size(), n_text, tokens.size(), n_chunks, po.n_ctx, std::string(activation_name(c.activation)).c_str(),
               relu ? "fires when > 0 (one pass)" : sparsity_note);

  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  // One bar per pass (the sweep takes far longer than a pass over the text), so each ETA is its own.
  std::optional<ProgressBar> bar;
  int bar_pass = 0;
  Clock::time_point pass_end[4] = {t0, t0, t0, t0};  // when each pass reported last
  auto progress = [&](int pass, int n_passes, int done, int total) {
    if (pass != bar_pass) {
      bar.emplace(o.model.quiet);
      bar_pass = pass;
    }
    pass_end[pass] = Clock::now();
    const bool sweeping = sweep && pass == 2;
    bar->update(done, total, "pass " + std::to_string(pass) + "/" + std::to_string(n_passes) +
                                 (sweeping ? " sensitivity sweep " + std::to_string(100 * static_cast<long long>(done) / total) + "%"
                                           : " chunk " + std::to_string(done) + "/" + std::to_string(total)));
  };
  const ActivationProfile p = profile_activations(*weights, tokens, po, progress);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double sweep_secs = sweep ? std::chrono::duration<double>(pass_end[2] - pass_end[1]).count() : 0.0;
  write_profile(o.out_path, c, p);
  const int text_passes = relu ? 1 : 2;
  std::fprintf(stderr, "[actinfer] %lld tokens profiled in %.1f s (%.1f tokens/s per pass%s); wrote %s\n", static_cast<long long>(p.n_tokens),
               secs, static_cast<double>(p.n_tokens) * text_passes / (secs - sweep_secs), sweep ? ", besides the sweep" : "", o.out_path.c_str());

  if (sweep) print_allocation(p, *metric, sweep_secs);
  std::printf("layer  threshold  level  active  hot10%%-share\n");
  float tmin = p.thresholds.empty() ? 0 : p.thresholds[0], tmax = tmin;
  double lmin = 1, lmax = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    const float t = p.thresholds[static_cast<size_t>(l)];
    const double level = p.layer_targets.empty() ? 0.0 : p.layer_targets[static_cast<size_t>(l)];
    tmin = std::min(tmin, t);
    tmax = std::max(tmax, t);
    lmin = std::min(lmin, level);
    lmax = std::max(lmax, level);
    std::printf("%5d  %9.5f  %5.2f  %6.4f  %6.4f\n", l, t, level, 1.0 - p.layer_sparsity(l), p.hot_share(l, 0.1));
  }
  std::printf("profile: %lld tokens, %d layers x %d neurons, %s, mean active fraction %.4f (sparsity %.4f), thresholds %.5f..%.5f, %.1f s\n",
              static_cast<long long>(p.n_tokens), c.n_layers, c.d_ff, std::string(activation_name(p.activation)).c_str(),
              1.0 - p.mean_sparsity(), p.mean_sparsity(), tmin, tmax, secs);
  if (!relu)
    std::printf("allocation %s: per-layer sparsity levels %.2f..%.2f, mean %.4f\n", std::string(allocation_name(p.allocation)).c_str(), lmin,
                lmax, p.layer_targets.empty() ? 0.0 : std::accumulate(p.layer_targets.begin(), p.layer_targets.end(), 0.0) / static_cast<double>(p.layer_targets.size()));
  std::fflush(stdout);
}

}  // namespace

void register_profile(CLI::App& app) {
  auto o = std::make_shared<ProfileCliOptions>();
  CLI::App* cmd = app.add_subcommand("profile", "how often each FFN neuron fires over a calibration text, written as a GGUF side file");
  o->model.n_ctx = 512;  // the chunk length: --ctx
  o->model.add_to(*cmd);
  cmd->add_option("-f,--file", o->text_path, "calibration text (tools/make_calibration_text.sh writes the standard one)")->required();
  cmd->add_option("-o,--output", o->out_path, "profile file to write (GGUF)")->required();
  cmd->add_option("--max-tokens", o->max_tokens, "profile at most this many tokens (default: all)")->check(at_least(1));
  cmd->add_option("--sparsity", o->sparsity, "non-ReLU models: target fraction of inactive activations (mean over layers), in [0, 1)")
      ->capture_default_str();
  cmd->add_option("--allocate", o->allocate,
                  "non-ReLU models: uniform (every layer at --sparsity) or sensitivity (levels per layer by a sweep of what each costs in NLL)")
      ->capture_default_str();
  cmd->add_option("--allocate-tokens", o->allocate_tokens, "sensitivity: tokens of the text swept (the first ones, whole chunks of --ctx)")
      ->capture_default_str();
  cmd->add_option("--allocate-metric", o->allocate_metric,
                  "sensitivity: what the levels minimise, kl (divergence from the dense model's next-token distributions) or nll (rise of the text's NLL; noisier)")
      ->capture_default_str();
  cmd->add_option("--allocate-levels", o->allocate_levels, "sensitivity: the sparsity levels measured per layer, increasing in (0, 1)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->callback([o] { run_profile(*o); });
}

}  // namespace actinfer::tools
