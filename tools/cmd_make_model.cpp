// `actinfer make-model`: writes a synthetic llama-architecture GGUF with a power-law
// ReLU activation pattern (see model/synthetic_model.h).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "model/synthetic_model.h"
#include "tools/commands.h"
#include "tools/progress_bar.h"

namespace actinfer::tools {

namespace {

struct MakeModelOptions {
  SyntheticModelConfig cfg;
  std::string out;
  std::string type = "f32";
  std::string output_type;  // empty: as --type
  std::string shape;
  bool quiet = false;
};

void run_make_model(const MakeModelOptions& o, const CLI::App& sub) {
  SyntheticModelConfig cfg = o.cfg;
  try {
    if (!o.shape.empty()) {
      // The preset fills what the flags did not set explicitly.
      SyntheticModelConfig preset = cfg;
      apply_shape_preset(preset, o.shape);
      if (sub.count("--layers") == 0) cfg.n_layers = preset.n_layers;
      if (sub.count("--dim") == 0) cfg.dim = preset.dim;
      if (sub.count("--ffn") == 0) cfg.ffn = preset.ffn;
      if (sub.count("--heads") == 0) cfg.n_heads = preset.n_heads;
      if (sub.count("--kv-heads") == 0) cfg.n_kv_heads = preset.n_kv_heads;
    }
    if (cfg.arch == "gemma3" && sub.count("--activation") == 0) cfg.activation = "gelu";  // GeGLU
    cfg.type = parse_weight_type(o.type);
    cfg.output_type = o.output_type.empty() ? cfg.type : parse_weight_type(o.output_type);
    validate(cfg);
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError(e.what());
  }

  ProgressBar bar;
  SyntheticModelProgress progress;
  if (!o.quiet)
    progress = [&bar](uint64_t done, uint64_t total, const std::string& tensor) {
      bar.update(static_cast<double>(done), static_cast<double>(total), tensor);
    };
  const SyntheticModelReport r = write_synthetic_model(cfg, o.out, progress);
  if (!r.note.empty()) std::fprintf(stderr, "make-model: note: %s\n", r.note.c_str());
  std::printf("wrote %s: %d layers, dim %d, ffn %d, heads %d/%d, vocab %d, %s (output %s), %s, sparsity %.3g, "
              "%.1fM params, %.1f MB, %.1f s\n",
              o.out.c_str(), cfg.n_layers, cfg.dim, cfg.ffn, cfg.n_heads, cfg.n_kv_heads, cfg.vocab,
              std::string(traits(cfg.type).name).c_str(), std::string(traits(cfg.output_type).name).c_str(),
              cfg.activation.c_str(), cfg.sparsity, r.n_params / 1e6, r.file_bytes / 1e6, r.seconds);
}

}  // namespace

void register_make_model(CLI::App& app) {
  auto o = std::make_shared<MakeModelOptions>();
  CLI::App* sub = app.add_subcommand(
      "make-model",
      "Write a synthetic llama GGUF with a designed power-law FFN activation pattern (hidden dim 0 is a "
      "constant bias channel; column 0 of ffn_gate sets each neuron's firing rate)");
  SyntheticModelConfig& c = o->cfg;
  sub->add_option("-o,--output", o->out, "Output .gguf path")->required();
  sub->add_option("--shape", o->shape, "Shape preset: tinyllama-1.1b or llama-7b (sets layers/dim/ffn/heads/kv-heads; "
                                       "explicit flags win)")
      ->check(CLI::IsMember(shape_preset_names(), CLI::ignore_case));
  sub->add_option("--layers", c.n_layers, "Transformer blocks")->capture_default_str();
  sub->add_option("--dim", c.dim, "Hidden size")->capture_default_str();
  sub->add_option("--ffn", c.ffn, "FFN size (neurons per layer)")->capture_default_str();
  sub->add_option("--heads", c.n_heads, "Attention heads")->capture_default_str();
  sub->add_option("--kv-heads", c.n_kv_heads, "Key/value heads (grouped-query attention)")->capture_default_str();
  sub->add_option("--vocab", c.vocab, "Vocabulary size (>= 259: byte-level BPE)")->capture_default_str();
  sub->add_option("--ctx", c.ctx, "llama.context_length")->capture_default_str();
  sub->add_option("--type", o->type, "Weight type: " + writable_weight_type_names() + " (K and IQ4_XS types need --dim and --ffn multiples of 256)")
      ->capture_default_str();
  sub->add_option("--output-type", o->output_type, "Type of output.weight (and of token_embd with --tied); default: --type");
  sub->add_option("--activation", c.activation, "FFN activation written to actinfer.ffn_activation")
      ->check(CLI::IsMember({"relu", "silu", "gelu"}))
      ->capture_default_str();
  sub->add_option("--hot-fraction", c.hot_fraction, "Fraction of neurons that fire for at least about half the tokens")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--sparsity", c.sparsity, "Mean fraction of FFN neurons inactive per token")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--gate-rank", c.gate_rank, "Make ffn_gate's token part of rank R (0: full rank): a known truth for predictors")
      ->capture_default_str();
  sub->add_option("--seed", c.seed, "Random seed (same seed, same bytes)")->capture_default_str();
  sub->add_option("--rope-base", c.rope_base, "llama.rope.freq_base")->capture_default_str();
  sub->add_option("--rms-eps", c.rms_eps, "llama.attention.layer_norm_rms_epsilon")->capture_default_str();
  sub->add_option("--name", c.name, "general.name (default: derived from the shape)");
  sub->add_option("--arch", c.arch, "Architecture: llama, or gemma3 (q/k and post norms, GeGLU, NEOX RoPE, local layers)")
      ->check(CLI::IsMember({"llama", "gemma3"}))
      ->capture_default_str();
  sub->add_option("--head-dim", c.head_dim, "gemma3: width of each attention head (0: --dim / --heads)")->capture_default_str();
  sub->add_option("--sliding-window", c.sliding_window, "gemma3: positions a local layer sees (0: all layers global)")
      ->capture_default_str();
  sub->add_flag("--tied", c.tied, "No output.weight: the output head reuses token_embd");
  sub->add_flag("-q,--quiet", o->quiet, "No progress lines");
  sub->callback([o, sub] { run_make_model(*o, *sub); });
}

}  // namespace actinfer::tools
