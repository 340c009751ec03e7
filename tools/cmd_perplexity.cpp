// `actinfer perplexity`: perplexity of the model over a text file, computed as
// the reference engine (llama.cpp's llama-perplexity) does, so the figures
// compare: chunks of --ctx tokens from an empty cache, each chunk's second half
// scored (see engine/perplexity.h). tools/make_eval_text.sh writes the text the
// measured figures in data/README.md use.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "actors/actor_runtime.h"
#include "engine/dense_engine.h"
#include "engine/perplexity.h"
#include "model/tokenizer.h"
#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/model_options.h"
#include "tools/progress_bar.h"
#include "tools/text_input.h"
#include "tools/runtime_choice.h"

namespace actinfer::tools {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  RuntimeChoice runtime;
  std::string text_path;
  int chunks = -1;  // -1: all
  bool vs_dense = false;  // also evaluate the dense engine and report the difference
};

void run_perplexity(const PerplexityOptions& o) {
  const std::string text = read_text_file(o.text_path, "tools/make_eval_text.sh writes the evaluation text");
  const DeploymentConfig config = o.runtime.load();
  auto weights = o.runtime.load_weights(config, o.model);
  const Tokenizer tokenizer(tokenizer_data_from_gguf(weights->file()));
  const auto t_tok = std::chrono::steady_clock::now();
  const std::vector<int32_t> tokens = tokenize_document(tokenizer, text);
  const double tok_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_tok).count();

  const int n_ctx = o.model.n_ctx;
  const size_t n_avail = tokens.size() / static_cast<size_t>(n_ctx);
  if (n_avail == 0)
    throw std::invalid_argument("'" + o.text_path + "' has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of --ctx " +
                                std::to_string(n_ctx));
  const size_t n_chunks = o.chunks > 0 ? std::min(n_avail, static_cast<size_t>(o.chunks)) : n_avail;

  auto evaluator = o.runtime.make(config, weights, o.model, "", n_ctx, "a chunk of --ctx " + std::to_string(n_ctx));
  auto* actors = dynamic_cast<ActorRuntime*>(evaluator.get());
  const char* runtime = !actors ? "dense" : actors->sparse() ? "sparse actors" : "actors";
  std::fprintf(stderr, "[actinfer] %s: %zu bytes, %zu tokens (tokenized in %.2f s); %zu chunks of %d, %d scored each; %s runtime\n",
               o.text_path.c_str(), text.size(), tokens.size(), tok_s, n_chunks, n_ctx, perplexity_scored_per_chunk(n_ctx), runtime);

  const auto t0 = std::chrono::steady_clock::now();
  // A fresh bar (clock) per evaluation: --vs-dense runs a second one.
  auto progress_bar = [quiet = o.model.quiet] {
    return [bar = std::make_shared<ProgressBar>(quiet)](int done, int total) {
      bar->update(done, total, "chunk " + std::to_string(done) + "/" + std::to_string(total));
    };
  };
  const auto scored_tokens = std::span<const int32_t>(tokens).first(n_chunks * static_cast<size_t>(n_ctx));
  const PerplexityResult r = perplexity(*evaluator, scored_tokens, n_ctx, tokenizer.add_bos(), tokenizer.bos(), progress_bar());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "[actinfer] %lld tokens scored in %.1f s (%.1f tokens/s evaluated); mean NLL %.6f\n",
               static_cast<long long>(r.n_scored), secs, static_cast<double>(n_chunks) * (n_ctx - 1) / secs, r.nll_mean);
  if (o.runtime.verbose) {
    std::fprintf(stderr, "[actinfer] per-chunk PPL:");
    for (size_t c = 0; c < r.chunk_ppl.size(); ++c) std::fprintf(stderr, "%s %.4f", c % 10 ? "" : "\n ", r.chunk_ppl[c]);
    std::fputc('\n', stderr);
  }
  std::printf("PPL = %.4f +/- %.5f (%d chunks of %d tokens, %lld scored, %s runtime, %s)\n", r.ppl, r.ppl_stderr, r.n_chunks, n_ctx,
              static_cast<long long>(r.n_scored), runtime, weights->file().path().filename().c_str());
  if (actors && actors->sparse()) {
    const auto st = actors->predictor_stats();
    std::printf("sparse: predictor %s, FFN computed %.2f%% of neurons per token", std::string(to_string(actors->predictor_mode())).c_str(), 100.0 * st.fraction_computed());
    if (st.truth_checked) std::printf(", recall %.4f (%.2f%% of neurons truly active)", st.recall(),
                                      100.0 * static_cast<double>(st.truly_active) / static_cast<double>(st.truth_checked * weights->config().d_ff));
    std::printf("\n");
  }
  std::fflush(stdout);
  if (o.vs_dense) {
    evaluator.reset();  // one runtime's threads at a time
    DenseEngine dense(weights, o.model.engine_options(weights.get()));
    std::fprintf(stderr, "[actinfer] the same chunks on the dense engine:\n");
    const PerplexityResult d = perplexity(dense, scored_tokens, n_ctx, tokenizer.add_bos(), tokenizer.bos(), progress_bar());
    std::printf("dense PPL = %.4f +/- %.5f; %s/dense = %.5f (%+.3f%%)\n", d.ppl, d.ppl_stderr, runtime, r.ppl / d.ppl, 100.0 * (r.ppl / d.ppl - 1.0));
  }
}

}  // namespace

void register_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  CLI::App* cmd = app.add_subcommand("perplexity", "perplexity of the model over a text file, in chunks of --ctx tokens (computed as llama.cpp's llama-perplexity does)");
  o->model.n_ctx = 512;  // the chunk length: --ctx
  o->model.add_to(*cmd);
  o->runtime.add_to(*cmd, false);
  cmd->add_option("-f,--file", o->text_path, "text file to evaluate (tools/make_eval_text.sh writes the standard one)")->required();
  cmd->add_option("--chunks", o->chunks, "evaluate at most this many chunks (default: all)")->check(at_least(1));
  cmd->add_flag("--vs-dense", o->vs_dense, "also evaluate the dense engine on the same chunks and report the relative change");
  cmd->callback([o] { run_perplexity(*o); });
}

}  // namespace actinfer::tools
