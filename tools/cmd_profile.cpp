// `actinfer profile`: how often each FFN neuron fires over a calibration text
// (engine/profiler.h), written as a GGUF side file (model/profile_file.h) for
// the planning step. Non-ReLU models get per-layer thresholds on |activation|
// calibrated to --sparsity (a first pass over the text), then the counts (a
// second pass). tools/make_calibration_text.sh writes the standard text.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/profiler.h"
#include "model/profile_file.h"
#include "model/tokenizer.h"
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
};

void run_profile(const ProfileCliOptions& o) {
  if (!(o.sparsity >= 0 && o.sparsity < 1))
    throw std::invalid_argument("--sparsity must be in [0, 1), got " + std::to_string(o.sparsity));
  const std::string text = read_text_file(o.text_path, "tools/make_calibration_text.sh writes the calibration text");
  auto weights = o.model.load_weights();
  const ModelConfig& c = weights->config();
  const Tokenizer tokenizer(tokenizer_data_from_gguf(weights->file()));
  std::vector<int32_t> tokens;
  if (tokenizer.add_bos()) tokens.push_back(tokenizer.bos());
  const auto body = tokenizer.encode(text, false, false);
  tokens.insert(tokens.end(), body.begin(), body.end());
  const size_t n_text = tokens.size();
  if (o.max_tokens > 0 && tokens.size() > static_cast<size_t>(o.max_tokens)) tokens.resize(static_cast<size_t>(o.max_tokens));

  ProfileOptions po;
  po.n_ctx = std::min(o.model.n_ctx, c.n_ctx_train);
  po.n_threads = o.model.threads;
  po.max_batch = o.model.batch;
  po.target_sparsity = o.sparsity;
  po.add_bos = tokenizer.add_bos();
  po.bos = tokenizer.bos();
  const bool relu = c.activation == Activation::ReLU;
  char sparsity_note[96];
  std::snprintf(sparsity_note, sizeof sparsity_note, "thresholds calibrated to sparsity %g (two passes)", o.sparsity);
  const size_t n_chunks = (tokens.size() + static_cast<size_t>(po.n_ctx) - 1) / static_cast<size_t>(po.n_ctx);
  std::fprintf(stderr, "[actinfer] %s: %zu bytes, %zu tokens, profiling %zu; %zu chunks of up to %d; activation %s, %s\n",
               o.text_path.c_str(), text.size(), n_text, tokens.size(), n_chunks, po.n_ctx, std::string(activation_name(c.activation)).c_str(),
               relu ? "fires when > 0 (one pass)" : sparsity_note);

  const auto t0 = std::chrono::steady_clock::now();
  ProgressBar bar;
  auto progress = [&](int pass, int n_passes, int done, int total) {
    bar.update((pass - 1) * total + done, n_passes * total,
               "pass " + std::to_string(pass) + "/" + std::to_string(n_passes) + " chunk " + std::to_string(done) + "/" + std::to_string(total));
  };
  const ActivationProfile p = profile_activations(*weights, tokens, po, progress);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_profile(o.out_path, c, p);
  std::fprintf(stderr, "[actinfer] %lld tokens profiled in %.1f s (%.1f tokens/s per pass); wrote %s\n",
               static_cast<long long>(p.n_tokens), secs, static_cast<double>(p.n_tokens) * (relu ? 1 : 2) / secs, o.out_path.c_str());

  std::printf("layer  threshold  active  hot10%%-share\n");
  float tmin = p.thresholds.empty() ? 0 : p.thresholds[0], tmax = tmin;
  for (int l = 0; l < c.n_layers; ++l) {
    const float t = p.thresholds[static_cast<size_t>(l)];
    tmin = std::min(tmin, t);
    tmax = std::max(tmax, t);
    std::printf("%5d  %9.5f  %6.4f  %6.4f\n", l, t, 1.0 - p.layer_sparsity(l), p.hot_share(l, 0.1));
  }
  std::printf("profile: %lld tokens, %d layers x %d neurons, %s, mean active fraction %.4f (sparsity %.4f), thresholds %.5f..%.5f, %.1f s\n",
              static_cast<long long>(p.n_tokens), c.n_layers, c.d_ff, std::string(activation_name(p.activation)).c_str(),
              1.0 - p.mean_sparsity(), p.mean_sparsity(), tmin, tmax, secs);
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
  cmd->add_option("--max-tokens", o->max_tokens, "profile at most this many tokens (default: all)")->check(CLI::PositiveNumber);
  cmd->add_option("--sparsity", o->sparsity, "non-ReLU models: target fraction of inactive activations per layer, in [0, 1)")
      ->capture_default_str();
  cmd->callback([o] { run_profile(*o); });
}

}  // namespace actinfer::tools
